// Package e2e proves, against a real containerd reached through the CRI image
// service, that certsd-migrate's output pulls the same images from the same
// registries as the legacy CRI registry config it replaces.
//
// The non-test files hold the small image builder and pusher; the rig lives in
// package rig; the cases and phases are in the _test.go files. See README.md.
package e2e
