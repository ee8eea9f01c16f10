"""Customer-managed KMS keys."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from cutlass_operator.engine.resource import Props

# The key policy as KMS takes it: the kind compares documents by meaning, not by spelling.
PolicyDocument = Mapping[str, object]

KeySpec = Literal[
    "SYMMETRIC_DEFAULT",
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "ECC_NIST_P256",
    "ECC_NIST_P384",
    "ECC_NIST_P521",
    "ECC_NIST_EDWARDS25519",
    "ECC_SECG_P256K1",
    "HMAC_224",
    "HMAC_256",
    "HMAC_384",
    "HMAC_512",
    "ML_DSA_44",
    "ML_DSA_65",
    "ML_DSA_87",
    "ML_KEM_512",
    "ML_KEM_768",
    "ML_KEM_1024",
    "SM2",
]
KeyUsage = Literal["ENCRYPT_DECRYPT", "SIGN_VERIFY", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT", "ENCAPSULATE_DECAPSULATE"]


@dataclass(frozen=True)
class KmsKeyProps(Props):
    kind = "kms.key"

    description: str
    alias: str
    policy: PolicyDocument
    enable_key_rotation: bool = True
    key_spec: KeySpec = "SYMMETRIC_DEFAULT"
    key_usage: KeyUsage = "ENCRYPT_DECRYPT"
