// Runs one command once with a file on its stdin and prints its CPU (user + sys) and wall time in
// microseconds as JSON, from the kernel's accounting of the finished process (wait4's rusage). Go starts
// the child with clone(CLONE_VM|CLONE_VFORK), so the child is charged almost nothing before its exec: a
// shell's fork, as in bash's `time`, charged the child 4-5 ms on a 2-CPU VM, more than the forwarder's own
// work. Used by bench/forwarder.ts; usage: process-cpu STDIN_FILE COMMAND [ARG...].
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: process-cpu STDIN_FILE COMMAND [ARG...]")
		os.Exit(2)
	}
	stdin, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	command := exec.Command(os.Args[2], os.Args[3:]...)
	command.Stdin = stdin
	started := time.Now()
	err = command.Run()
	wall := time.Since(started)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", os.Args[2], err)
		os.Exit(1)
	}
	usage := command.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
	_ = json.NewEncoder(os.Stdout).Encode(map[string]int64{"cpuMicros": cpu.Microseconds(), "wallMicros": wall.Microseconds()})
}
