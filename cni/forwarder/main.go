// The topology-ipam CNI plugin as a runtime executes it (/opt/cni/bin/topology-ipam): a forwarder that
// sends the CNI environment and the network configuration to the node agent over its unix socket, prints
// the agent's reply and exits with its code, per agent/protocol.ts. Every CNI decision is the agent's;
// this program only answers VERSION itself and says so readably (code 11, try again later) when the agent
// cannot be reached. Go, so that the start-up every pod pays is a few milliseconds (docs/adr/0011).
// Run under its second name, topology-ipam-routes, it is a chained plugin instead (routes.go).
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// These mirror agent/protocol.ts and cni/versions.ts; cni/forwarder.tools.test.ts checks each against them.
const (
	protocolVersion    = 1
	defaultAgentSocket = "/run/topology-ipam/agent.sock"
	maxStdinBytes      = 1024 * 1024
	versionInfo        = `{"cniVersion":"1.1.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}`
	latestVersion      = "1.1.0"
	// The agent bounds an invocation by ipam.timeout_seconds; the margin lets its own answer arrive.
	defaultTimeoutSeconds = 30
	replyMarginSeconds    = 5
)

var forwardedVariables = []string{"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH"}

type request struct {
	Version int               `json:"version"`
	Env     map[string]string `json:"env"`
	Stdin   string            `json:"stdin"`
}

type reply struct {
	Version  *int    `json:"version"`
	ExitCode *int    `json:"exitCode"`
	Stdout   *string `json:"stdout"`
}

// versioned is the cniVersion of a network configuration, for the errors about it.
type versioned struct {
	CNIVersion any `json:"cniVersion"`
}

// cniVersion is the configuration's version if it is a string, else the latest: errors carry one.
func (config versioned) cniVersion() string {
	if version, ok := config.CNIVersion.(string); ok {
		return version
	}
	return latestVersion
}

// network holds the few fields the forwarder reads; anything malformed is left to the agent to refuse.
type network struct {
	versioned
	IPAM struct {
		AgentSocket    any `json:"agent_socket"`
		TimeoutSeconds any `json:"timeout_seconds"`
	} `json:"ipam"`
}

type cniError struct {
	CNIVersion string `json:"cniVersion"`
	Code       int    `json:"code"`
	Msg        string `json:"msg"`
	Details    string `json:"details"`
}

// The runtime executes a plugin by its type, so the name it runs this binary under is the mode, as
// Calico's calico and calico-ipam are one binary: the IPAM path pays one string comparison for it.
func main() {
	if os.Getenv("CNI_COMMAND") == "VERSION" {
		fmt.Print(versionInfo)
		return
	}
	if filepath.Base(os.Args[0]) == routesPluginName {
		addPodRoutes()
		return
	}
	forward()
}

// readConfig reads the network configuration from stdin into config (best effort: the decoding error
// is returned) and fails, in the configuration's cniVersion when it has one, if stdin cannot be read.
func readConfig(config interface{ cniVersion() string }) ([]byte, error) {
	stdin, err := io.ReadAll(io.LimitReader(os.Stdin, maxStdinBytes+1))
	decoding := json.Unmarshal(stdin, config)
	if err != nil {
		fail(config.cniVersion(), 5, "cannot read the network configuration", err.Error())
	}
	if len(stdin) > maxStdinBytes {
		fail(config.cniVersion(), 7, "network configuration too large",
			fmt.Sprintf("the network configuration on stdin exceeds %d bytes", maxStdinBytes))
	}
	return stdin, decoding
}

// forward hands the invocation to the node agent: the IPAM plugin.
func forward() {
	var config network
	stdin, _ := readConfig(&config) // the agent reports a malformed configuration
	cniVersion := config.cniVersion()
	socket, ok := config.IPAM.AgentSocket.(string)
	if !ok {
		socket = defaultAgentSocket
	}
	timeoutSeconds, ok := config.IPAM.TimeoutSeconds.(float64)
	if !ok || timeoutSeconds <= 0 {
		timeoutSeconds = defaultTimeoutSeconds
	}
	timeout := time.Duration((timeoutSeconds + replyMarginSeconds) * float64(time.Second))
	env := map[string]string{}
	for _, name := range forwardedVariables {
		if value, set := os.LookupEnv(name); set {
			env[name] = value
		}
	}
	answer, problem := exchange(socket, timeout, request{protocolVersion, env, string(stdin)})
	if problem != "" {
		fail(cniVersion, 11, "topology-ipam node agent unreachable", fmt.Sprintf(
			"%s (socket %s). Check that the topology-ipam agent pod runs on this node "+
				"(kubectl get pods -n <namespace> -l app.kubernetes.io/component=cni -o wide "+
				"--field-selector spec.nodeName=<node>) and that %s exists", problem, socket, socket))
	}
	os.Stdout.WriteString(*answer.Stdout)
	os.Exit(*answer.ExitCode)
}

// exchange sends one request and reads its reply; on failure it returns what went wrong, in words. Plain
// blocking system calls with socket timeouts, not package net: its poller costs ~2 ms of CPU per start.
func exchange(socket string, timeout time.Duration, message request) (reply, string) {
	var answer reply
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err == nil {
		limit := syscall.NsecToTimeval(timeout.Nanoseconds()) // bounds connect and each write and read
		_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &limit)
		_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &limit)
		for err = syscall.EINTR; err == syscall.EINTR; { // a timeout makes connect interruptible
			err = syscall.Connect(fd, &syscall.SockaddrUnix{Name: socket})
		}
	}
	if err != nil {
		return answer, fmt.Sprintf("cannot connect to the agent: %v", err)
	}
	conn := os.NewFile(uintptr(fd), socket)
	defer conn.Close()
	encoded, _ := json.Marshal(message) // a struct of strings always encodes
	if _, err := conn.Write(encoded); err != nil {
		return answer, fmt.Sprintf("cannot send the request to the agent: %v", unwrap(err))
	}
	_ = syscall.Shutdown(fd, syscall.SHUT_WR)
	received, err := io.ReadAll(conn)
	switch {
	case errors.Is(err, syscall.EAGAIN):
		return answer, fmt.Sprintf("the agent sent no reply within %s (ipam.timeout_seconds + %d s)", timeout, replyMarginSeconds)
	case err != nil:
		return answer, fmt.Sprintf("the connection to the agent failed before its reply: %v", unwrap(err))
	case len(received) == 0:
		return answer, "the agent closed the connection without a reply"
	}
	err = json.Unmarshal(received, &answer)
	if err == nil && answer.Version != nil && *answer.Version != protocolVersion {
		return answer, fmt.Sprintf("the agent speaks protocol version %d, this forwarder %d: "+
			"install the forwarder and the agent of one release", *answer.Version, protocolVersion)
	}
	// An exit code beyond 0-255 would wrap (256 exits 0): a failure must never read as a success.
	if err != nil || answer.Version == nil || answer.ExitCode == nil || answer.Stdout == nil ||
		*answer.ExitCode < 0 || *answer.ExitCode > 255 {
		return answer, fmt.Sprintf("the agent's reply is not a protocol reply: %.200q", received)
	}
	return answer, ""
}

// unwrap keeps the system's reason ("broken pipe"): the details name the socket once.
func unwrap(err error) error {
	var pathError *os.PathError
	if errors.As(err, &pathError) {
		return pathError.Err
	}
	return err
}

func fail(cniVersion string, code int, msg, details string) {
	encoder := json.NewEncoder(os.Stdout)
	encoder.SetEscapeHTML(false) // the details quote a kubectl command with <placeholders>
	_ = encoder.Encode(cniError{cniVersion, code, msg, details})
	os.Exit(1)
}
