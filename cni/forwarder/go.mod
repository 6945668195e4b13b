module topology-ipam/cni/forwarder

go 1.21
