"""The embedded emulators behind `cutlass demo`, `cutlass emulator` and the tests.

Nothing outside this package (and the CLI that starts it) knows it exists: the operator talks to
it through `AWS_ENDPOINT_URL` and a kubeconfig, exactly as it talks to AWS and a cluster.
"""
