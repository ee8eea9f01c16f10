// Command etcd is the upstream etcd server, unchanged: the same main as
// go.etcd.io/etcd/server/v3 (a thin wrapper around etcdmain.Main).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
