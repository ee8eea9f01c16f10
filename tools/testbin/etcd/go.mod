// The etcd of the e2e tier (the release line Kubernetes itself tests with), built from
// etcd's server module. Debian's etcd 3.4 is too old for current Kubernetes.
module cutlass.tech/testbin/etcd

go 1.26.0

require go.etcd.io/etcd/server/v3 v3.7.3
