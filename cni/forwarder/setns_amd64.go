package main

// setns(2), which package syscall names for every Linux architecture but amd64.
const sysSetns = 308
