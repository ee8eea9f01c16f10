"""The reconcile engine: observe every desired resource, plan the difference, apply it in order.

Pure code: it knows the resource contract and nothing of boto3 or kopf. Resource kinds (in
`cutlass_operator.resources`) implement the contract against AWS; layers (in
`cutlass_operator.layers`) turn a spec into desired resources.
"""
