package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Push uploads img as <repo>:<tag> to the registry at baseURL using the
// distribution HTTP API: monolithic blob uploads (POST then PUT) and a
// manifest PUT. client carries the registry's TLS and auth settings.
func Push(ctx context.Context, client *http.Client, baseURL, repo, tag string, img *Image) error {
	for _, blob := range []struct {
		digest string
		data   []byte
	}{{img.LayerDigest, img.Layer}, {img.ConfigDigest, img.Config}} {
		if err := pushBlob(ctx, client, baseURL, repo, blob.digest, blob.data); err != nil {
			return fmt.Errorf("pushing %s to %s: %w", repo, baseURL, err)
		}
	}
	u := fmt.Sprintf("%s/v2/%s/manifests/%s", baseURL, repo, tag)
	if err := do(ctx, client, http.MethodPut, u, mediaTypeManifest, img.Manifest, http.StatusCreated, nil); err != nil {
		return fmt.Errorf("pushing manifest %s:%s to %s: %w", repo, tag, baseURL, err)
	}
	return nil
}

func pushBlob(ctx context.Context, client *http.Client, baseURL, repo, digest string, data []byte) error {
	var location string
	start := fmt.Sprintf("%s/v2/%s/blobs/uploads/", baseURL, repo)
	if err := do(ctx, client, http.MethodPost, start, "", nil, http.StatusAccepted, func(r *http.Response) {
		location = r.Header.Get("Location")
	}); err != nil {
		return fmt.Errorf("starting upload: %w", err)
	}
	base, err := url.Parse(start)
	if err != nil {
		return err
	}
	loc, err := base.Parse(location)
	if err != nil {
		return fmt.Errorf("upload location %q: %w", location, err)
	}
	q := loc.Query()
	q.Set("digest", digest)
	loc.RawQuery = q.Encode()
	if err := do(ctx, client, http.MethodPut, loc.String(), "application/octet-stream", data, http.StatusCreated, nil); err != nil {
		return fmt.Errorf("uploading blob %s: %w", digest, err)
	}
	return nil
}

func do(ctx context.Context, client *http.Client, method, u, contentType string, body []byte, want int, onResp func(*http.Response)) error {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %s: %s: %s", method, u, resp.Status, bytes.TrimSpace(msg))
	}
	if onResp != nil {
		onResp(resp)
	}
	return nil
}
