// The kube-apiserver of the e2e tier, built from the Kubernetes release's Go module.
// The version below is the one built; build.sh adds one `replace` per k8s.io staging
// module (generated from k8s.io/kubernetes's own go.mod) in a scratch copy under bin/.
module cutlass.tech/testbin/kube-apiserver

go 1.26.0

godebug default=go1.26

require k8s.io/kubernetes v1.37.2
