module topology-ipam/bench/process-cpu

go 1.22
