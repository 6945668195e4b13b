// The pod's routes through rtnetlink, with the system calls of package syscall: no netlink library, so
// the binary keeps to the standard library and its start-up stays that of the forwarder.
package main

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"runtime"
	"syscall"
)

// podNetwork is the pod's network namespace, which this thread has entered, and its interface.
type podNetwork struct {
	netns, ifname string
	ifindex       uint32
}

// enterPod moves this goroutine's thread into the pod's network namespace for good (the process ends
// after the routes), and finds the interface there.
func enterPod(netns, ifname string) (podNetwork, error) {
	pod := podNetwork{netns: netns, ifname: ifname}
	runtime.LockOSThread() // never unlocked: no other goroutine may run on a thread in the pod
	fd, err := syscall.Open(netns, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return pod, fmt.Errorf("cannot open the pod's network namespace %s: %w", netns, err)
	}
	defer syscall.Close(fd)
	if _, _, errno := syscall.RawSyscall(sysSetns, uintptr(fd), syscall.CLONE_NEWNET, 0); errno != 0 {
		return pod, fmt.Errorf("cannot enter the pod's network namespace %s: %w", netns, errno)
	}
	links, err := dump(syscall.RTM_GETLINK, syscall.AF_UNSPEC)
	if err != nil {
		return pod, fmt.Errorf("cannot list the interfaces in %s: %w", netns, err)
	}
	for _, link := range links {
		if link.Header.Type != syscall.RTM_NEWLINK || len(link.Data) < syscall.SizeofIfInfomsg {
			continue
		}
		attributes, _ := syscall.ParseNetlinkRouteAttr(&link)
		for _, attribute := range attributes {
			if attribute.Attr.Type == syscall.IFLA_IFNAME && string(trimNul(attribute.Value)) == ifname {
				pod.ifindex = binary.NativeEndian.Uint32(link.Data[4:8])
				return pod, nil
			}
		}
	}
	return pod, fmt.Errorf("no interface %s in the pod's network namespace %s (CNI_IFNAME): the main "+
		"plugin before %s makes it", ifname, netns, routesPluginName)
}

func trimNul(value []byte) []byte {
	for len(value) > 0 && value[len(value)-1] == 0 {
		value = value[:len(value)-1]
	}
	return value
}

func dump(kind, family int) ([]syscall.NetlinkMessage, error) {
	answer, err := syscall.NetlinkRIB(kind, family)
	if err != nil {
		return nil, err
	}
	return syscall.ParseNetlinkMessage(answer)
}

func familyOf(address netip.Addr) byte {
	if address.Is4() {
		return syscall.AF_INET
	}
	return syscall.AF_INET6
}

// add asks the kernel for the route, failing with EEXIST where a route of that destination (and, for
// IPv6, metric) is.
func (pod podNetwork) add(route podRoute) error {
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, syscall.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	kernel := &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}
	if err := syscall.Bind(fd, kernel); err != nil {
		return err
	}
	// struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags (4 bytes).
	body := []byte{familyOf(route.gw), byte(route.dst.Bits()), 0, 0, syscall.RT_TABLE_MAIN,
		syscall.RTPROT_BOOT, syscall.RT_SCOPE_UNIVERSE, syscall.RTN_UNICAST, 0, 0, 0, 0}
	if route.dst.Bits() > 0 {
		body = appendAttribute(body, syscall.RTA_DST, route.dst.Addr().AsSlice())
	}
	body = appendAttribute(body, syscall.RTA_GATEWAY, route.gw.AsSlice())
	body = appendAttribute(body, syscall.RTA_OIF, binary.NativeEndian.AppendUint32(nil, pod.ifindex))
	flags := syscall.NLM_F_REQUEST | syscall.NLM_F_ACK | syscall.NLM_F_CREATE | syscall.NLM_F_EXCL
	message := binary.NativeEndian.AppendUint32(nil, uint32(syscall.NLMSG_HDRLEN+len(body)))
	message = binary.NativeEndian.AppendUint16(message, syscall.RTM_NEWROUTE)
	message = binary.NativeEndian.AppendUint16(message, uint16(flags))
	message = binary.NativeEndian.AppendUint32(message, 1) // sequence
	message = binary.NativeEndian.AppendUint32(message, 0) // port: the kernel
	if err := syscall.Sendto(fd, append(message, body...), 0, kernel); err != nil {
		return err
	}
	reply := make([]byte, syscall.Getpagesize())
	n, _, err := syscall.Recvfrom(fd, reply, 0)
	if err != nil {
		return err
	}
	messages, err := syscall.ParseNetlinkMessage(reply[:n])
	if err != nil {
		return err
	}
	for _, answer := range messages {
		if answer.Header.Type == syscall.NLMSG_ERROR && len(answer.Data) >= 4 {
			if errno := int32(binary.NativeEndian.Uint32(answer.Data[:4])); errno != 0 {
				return syscall.Errno(-errno)
			}
			return nil
		}
	}
	return fmt.Errorf("the kernel did not acknowledge the route")
}

// appendAttribute appends a struct rtattr with its value, padded to 4 bytes.
func appendAttribute(message []byte, kind uint16, value []byte) []byte {
	message = binary.NativeEndian.AppendUint16(message, uint16(syscall.SizeofRtAttr+len(value)))
	message = binary.NativeEndian.AppendUint16(message, kind)
	message = append(message, value...)
	for len(message)%syscall.NLMSG_ALIGNTO != 0 {
		message = append(message, 0)
	}
	return message
}

// find says whether the pod's main table has the route on its interface, and describes every route to
// the same destination otherwise.
func (pod podNetwork) find(route podRoute) (bool, []string, error) {
	routes, err := dump(syscall.RTM_GETROUTE, int(familyOf(route.gw)))
	if err != nil {
		return false, nil, err
	}
	var holders []string
	for _, message := range routes {
		if message.Header.Type != syscall.RTM_NEWROUTE || len(message.Data) < syscall.SizeofRtMsg {
			continue
		}
		table := uint32(message.Data[4])
		dst := netip.PrefixFrom(netip.IPv6Unspecified(), int(message.Data[1]))
		if route.gw.Is4() {
			dst = netip.PrefixFrom(netip.IPv4Unspecified(), int(message.Data[1]))
		}
		var gateway netip.Addr
		var ifindex uint32
		attributes, _ := syscall.ParseNetlinkRouteAttr(&message)
		for _, attribute := range attributes {
			switch attribute.Attr.Type {
			case syscall.RTA_TABLE:
				table = binary.NativeEndian.Uint32(attribute.Value)
			case syscall.RTA_DST:
				address, _ := netip.AddrFromSlice(attribute.Value)
				dst = netip.PrefixFrom(address, dst.Bits())
			case syscall.RTA_GATEWAY:
				gateway, _ = netip.AddrFromSlice(attribute.Value)
			case syscall.RTA_OIF:
				ifindex = binary.NativeEndian.Uint32(attribute.Value)
			}
		}
		if table != syscall.RT_TABLE_MAIN || dst != route.dst {
			continue
		}
		if gateway == route.gw && ifindex == pod.ifindex {
			return true, nil, nil
		}
		holders = append(holders, pod.describe(dst, gateway, ifindex))
	}
	return false, holders, nil
}

func (pod podNetwork) describe(dst netip.Prefix, gateway netip.Addr, ifindex uint32) string {
	device := fmt.Sprintf("dev %s", pod.ifname)
	if ifindex != pod.ifindex {
		device = fmt.Sprintf("on interface index %d", ifindex)
	}
	if gateway.IsValid() {
		return fmt.Sprintf("%s via %s %s", dst, gateway, device)
	}
	return fmt.Sprintf("%s %s", dst, device)
}
