"""Cutlass: a kopf operator that reconciles a multi-account, multi-region AWS stack."""

__version__ = "0.1.0"
