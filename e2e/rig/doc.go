// Package rig runs the throwaway infrastructure of the end-to-end suite on
// 127.0.0.1: docker-registry (distribution) instances, an in-process
// path-prefix reverse proxy, a "down" endpoint, and isolated containerd
// daemons reached through the CRI image service.
//
// Every process is started in its own process group so that it, and anything
// it spawned, can be stopped as a unit.
package rig
