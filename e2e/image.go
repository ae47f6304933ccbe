package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime"
	"time"
)

// OCI media types of the test image.
const (
	mediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	mediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
)

// Image is a one-layer OCI image held in memory.
type Image struct {
	Config, Layer, Manifest []byte
	// ConfigDigest is what containerd reports as the image ID.
	ConfigDigest, LayerDigest, ManifestDigest string
}

type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int    `json:"size"`
}

// NewImage builds a tiny image for the current platform whose config (and
// so whose ID) is unique to origin, so an image ID tells where it came from.
func NewImage(origin string) (*Image, error) {
	tarball, err := layerTar("origin.txt", "pulled from "+origin+"\n")
	if err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(tarball); err != nil {
		return nil, fmt.Errorf("compressing layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compressing layer: %w", err)
	}
	config, err := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"config":       map[string]any{"Labels": map[string]string{"e2e.origin": origin}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{digestOf(tarball)}},
	})
	if err != nil {
		return nil, fmt.Errorf("encoding image config: %w", err)
	}
	img := &Image{Config: config, Layer: gz.Bytes(), ConfigDigest: digestOf(config), LayerDigest: digestOf(gz.Bytes())}
	img.Manifest, err = json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaTypeManifest,
		"config":        descriptor{mediaTypeConfig, img.ConfigDigest, len(config)},
		"layers":        []descriptor{{mediaTypeLayer, img.LayerDigest, len(img.Layer)}},
	})
	if err != nil {
		return nil, fmt.Errorf("encoding manifest: %w", err)
	}
	img.ManifestDigest = digestOf(img.Manifest)
	return img, nil
}

func layerTar(name, content string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, fmt.Errorf("writing layer tar: %w", err)
	}
	if _, err := tw.Write([]byte(content)); err != nil {
		return nil, fmt.Errorf("writing layer tar: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("writing layer tar: %w", err)
	}
	return buf.Bytes(), nil
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
