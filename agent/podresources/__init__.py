"""Generated gRPC stubs for the kubelet pod-resources API v1 (see api.proto).

Regenerate with grpcio-tools 1.81.x (protobuf gencode must not exceed the runtime pinned by ortools):
    python -m grpc_tools.protoc -I. --python_out=. --grpc_python_out=. --pyi_out=. agent/podresources/api.proto
"""
