// topology-ipam-routes: this binary under a second name is a chained CNI plugin, listed after a main
// plugin that puts the IPAM's link-local gateway on-link in the pod (ptp, with ipam.link_local_gateway).
// It adds the routes of its configuration (by default the default route of each family the pod has an
// address of) via that family's gateway in prevResult, in the pod's network namespace, and passes
// prevResult on with them. ptp adds the IPAM's routes before its route to the gateway, so the kernel
// refuses an IPv4 route via 169.254.1.1 at that point; after ptp it takes it (docs/adr/0013-node-routes.md).
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
)

const routesPluginName = "topology-ipam-routes"

// Codes of this plugin's own failures, beside CNI's (1-99) and the IPAM's (100-199).
const (
	codeNoPodNetwork = 120 // the pod's network namespace or interface cannot be had
	codeRouteRefused = 121 // the kernel refused a route, or another route holds its place
	codeRouteMissing = 122 // CHECK: a route is not in the pod
)

// The oldest cniVersion of each command but VERSION, as libcni's skel has them.
var minimumVersions = map[string]string{"ADD": "0.3.0", "DEL": "0.3.0", "CHECK": "0.4.0", "GC": "1.1.0", "STATUS": "1.1.0"}

var defaultPodRoutes = []string{"0.0.0.0/0", "::/0"}

type routesNetwork struct {
	versioned
	// nil: the default routes; [] adds none.
	Routes     []map[string]json.RawMessage `json:"routes"`
	PrevResult map[string]json.RawMessage   `json:"prevResult"`
}

// previousResult is what this plugin reads of prevResult; the rest is passed on untouched.
type previousResult struct {
	IPs []struct {
		Address string `json:"address"`
		Gateway string `json:"gateway"`
	} `json:"ips"`
	Routes []resultRoute `json:"routes"`
}

type resultRoute struct {
	Dst string `json:"dst"`
	GW  string `json:"gw,omitempty"`
}

// podRoute is a route this plugin keeps in the pod: dst via gw, on the pod's interface, table main.
type podRoute struct {
	dst netip.Prefix
	gw  netip.Addr
}

func (route podRoute) String() string { return fmt.Sprintf("%s via %s", route.dst, route.gw) }

type failure struct {
	code         int
	msg, details string
}

func addPodRoutes() {
	command := os.Getenv("CNI_COMMAND")
	var config routesNetwork
	_, decoding := readConfig(&config)
	cniVersion := config.cniVersion()
	if problem := checkInvocation(command, config, decoding); problem != nil {
		fail(cniVersion, problem.code, problem.msg, problem.details)
	}
	if command != "ADD" && command != "CHECK" {
		return // DEL: the routes go with the pod's network namespace; GC: nothing is kept; STATUS: ready
	}
	routes, problem := planPodRoutes(config)
	if problem != nil {
		fail(cniVersion, problem.code, problem.msg, problem.details)
	}
	netnsPath, ifname := os.Getenv("CNI_NETNS"), os.Getenv("CNI_IFNAME")
	for name, value := range map[string]string{"CNI_NETNS": netnsPath, "CNI_IFNAME": ifname} {
		if value == "" {
			fail(cniVersion, 4, "invalid environment variable "+name, name+" is required for "+command)
		}
	}
	pod, err := enterPod(netnsPath, ifname)
	if err != nil {
		fail(cniVersion, codeNoPodNetwork, "cannot reach the pod's network", err.Error())
	}
	for _, route := range routes {
		if command == "CHECK" {
			problem = pod.check(route)
		} else {
			problem = pod.ensure(route)
		}
		if problem != nil {
			fail(cniVersion, problem.code, problem.msg, problem.details)
		}
	}
	if command == "ADD" {
		printResult(config, routes)
	}
}

// checkInvocation refuses what no command can run with: an unknown command, a configuration that does
// not decode, a version this binary does not speak or that lacks the command.
func checkInvocation(command string, config routesNetwork, decoding error) *failure {
	var wrongType *json.UnmarshalTypeError
	switch {
	case minimumVersions[command] == "":
		return &failure{4, "invalid environment variable CNI_COMMAND",
			fmt.Sprintf("CNI_COMMAND %q is none of ADD, DEL, CHECK, GC, STATUS, VERSION", command)}
	case errors.As(decoding, &wrongType):
		return &failure{7, "invalid network configuration",
			fmt.Sprintf("%s: a %s, which should be a %s", wrongType.Field, wrongType.Value, wrongType.Type)}
	case decoding != nil:
		return &failure{6, "the network configuration is not JSON", decoding.Error()}
	}
	var info struct {
		SupportedVersions []string `json:"supportedVersions"`
	}
	_ = json.Unmarshal([]byte(versionInfo), &info) // a constant
	version, _ := config.CNIVersion.(string)
	at := slices.Index(info.SupportedVersions, version)
	if at < 0 {
		return &failure{1, fmt.Sprintf("incompatible CNI version %q", version),
			"this plugin supports cniVersion " + strings.Join(info.SupportedVersions, ", ")}
	}
	if minimum := minimumVersions[command]; at < slices.Index(info.SupportedVersions, minimum) {
		return &failure{1, fmt.Sprintf("incompatible CNI version %s", version),
			fmt.Sprintf("%s needs cniVersion %s or later; the configuration says %s", command, minimum, version)}
	}
	return nil
}

// planPodRoutes is each route of the configuration via the gateway of its family in prevResult; a
// family the pod has no address of gets none, so one configuration serves single- and dual-stack pods.
func planPodRoutes(config routesNetwork) ([]podRoute, *failure) {
	invalid := func(details string) *failure { return &failure{7, "invalid network configuration", details} }
	if config.PrevResult == nil {
		return nil, invalid(routesPluginName + " is a chained plugin and got no prevResult: list it after the " +
			"main plugin (ptp) in the plugins of a conflist")
	}
	var previous previousResult
	encoded, _ := json.Marshal(config.PrevResult) // decoded just before
	if err := json.Unmarshal(encoded, &previous); err != nil {
		return nil, invalid("prevResult is not a CNI result: " + err.Error())
	}
	type familyAddress struct {
		address string
		gateway netip.Addr
	}
	addresses := map[bool]familyAddress{} // by "is IPv4"
	for i, ip := range previous.IPs {
		address, err := netip.ParsePrefix(ip.Address)
		if err != nil {
			return nil, invalid(fmt.Sprintf("prevResult.ips[%d].address: %v", i, err))
		}
		gateway, err := netip.ParseAddr(ip.Gateway)
		if err != nil && ip.Gateway != "" {
			return nil, invalid(fmt.Sprintf("prevResult.ips[%d].gateway: %v", i, err))
		}
		if _, seen := addresses[address.Addr().Is4()]; !seen {
			addresses[address.Addr().Is4()] = familyAddress{ip.Address, gateway}
		}
	}
	destinations := defaultPodRoutes
	if config.Routes != nil {
		destinations = []string{}
	}
	for i, route := range config.Routes {
		for field := range route {
			if field != "dst" {
				return nil, &failure{2, "unsupported field routes[" + fmt.Sprint(i) + "]." + field, "each route " +
					"is a dst only: it goes via the gateway of its family in prevResult, on the pod's interface"}
			}
		}
		var dst string
		if err := json.Unmarshal(route["dst"], &dst); err != nil {
			return nil, invalid(fmt.Sprintf("routes[%d].dst: a CIDR string is required", i))
		}
		destinations = append(destinations, dst)
	}
	var routes []podRoute
	for i, text := range destinations {
		dst, err := netip.ParsePrefix(text)
		if err != nil {
			return nil, invalid(fmt.Sprintf("routes[%d].dst: %v", i, err))
		}
		address, present := addresses[dst.Addr().Is4()]
		switch {
		case !present:
			continue
		case !address.gateway.IsValid():
			return nil, invalid(fmt.Sprintf("prevResult has the address %s but no gateway for it, so %s has "+
				"nothing to route %s via: set the IPAM's link_local_gateway (the chart does for ptp)",
				address.address, routesPluginName, dst))
		}
		routes = append(routes, podRoute{dst.Masked(), address.gateway})
	}
	return routes, nil
}

// printResult prints prevResult with the routes appended that it does not list yet.
func printResult(config routesNetwork, routes []podRoute) {
	result := config.PrevResult
	var listed []json.RawMessage
	_ = json.Unmarshal(result["routes"], &listed) // checked by planPodRoutes
	for _, route := range routes {
		if !listedIn(listed, route) {
			encoded, _ := json.Marshal(resultRoute{route.dst.String(), route.gw.String()})
			listed = append(listed, encoded)
		}
	}
	if len(listed) > 0 {
		result["routes"], _ = json.Marshal(listed)
	}
	result["cniVersion"], _ = json.Marshal(config.cniVersion())
	encoder := json.NewEncoder(os.Stdout)
	encoder.SetEscapeHTML(false)
	_ = encoder.Encode(result)
}

// listedIn: a route of the same destination via the same gateway, or via none (the plugin's gateway).
func listedIn(listed []json.RawMessage, route podRoute) bool {
	for _, raw := range listed {
		var other resultRoute
		_ = json.Unmarshal(raw, &other)
		dst, err := netip.ParsePrefix(other.Dst)
		gw, _ := netip.ParseAddr(other.GW)
		if err == nil && dst.Masked() == route.dst && (other.GW == "" || gw == route.gw) {
			return true
		}
	}
	return false
}

// ensure adds the route unless the pod has it already (a runtime may retry an ADD).
func (pod podNetwork) ensure(route podRoute) *failure {
	err := pod.add(route)
	if err == nil {
		return nil
	}
	where := fmt.Sprintf("%s dev %s", route, pod.ifname)
	if errors.Is(err, syscall.EEXIST) {
		present, holders, err := pod.find(route)
		switch {
		case err != nil:
			return &failure{codeNoPodNetwork, "cannot read the pod's routes", err.Error()}
		case present:
			return nil
		}
		return &failure{codeRouteRefused, "the pod has another route to " + route.dst.String(),
			fmt.Sprintf("%s cannot add %s: the pod has %s. Remove that route from the main plugin's or "+
				"its IPAM's configuration, or %s from the routes of %s", routesPluginName, where,
				strings.Join(holders, ", "), route.dst, routesPluginName)}
	}
	advice := ""
	if errors.Is(err, syscall.ENETUNREACH) {
		advice = fmt.Sprintf(". %s is not on-link in the pod: list %s after a main plugin that routes "+
			"it on the pod's interface (ptp does) with the IPAM's link_local_gateway", route.gw, routesPluginName)
	}
	return &failure{codeRouteRefused, "the kernel refused a route in the pod",
		fmt.Sprintf("%s in %s: %v%s", where, pod.netns, err, advice)}
}

func (pod podNetwork) check(route podRoute) *failure {
	present, _, err := pod.find(route)
	switch {
	case err != nil:
		return &failure{codeNoPodNetwork, "cannot read the pod's routes", err.Error()}
	case !present:
		return &failure{codeRouteMissing, "a route is missing in the pod",
			fmt.Sprintf("no route %s dev %s in %s, which %s added", route, pod.ifname, pod.netns, routesPluginName)}
	}
	return nil
}
