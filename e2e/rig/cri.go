package rig

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ErrCRIImageServiceMissing means containerd answers gRPC but has no CRI image
// service: the CRI plugin failed to load (typically a registry config error).
var ErrCRIImageServiceMissing = errors.New("CRI image service missing (Unimplemented)")

// CRIClient talks to the CRI image service (runtime.v1) of one containerd.
type CRIClient struct {
	conn   *grpc.ClientConn
	images runtimeapi.ImageServiceClient
}

// DialCRI connects to the containerd gRPC socket.
func DialCRI(socket string) (*CRIClient, error) {
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("dialing CRI at %s: %w", socket, err)
	}
	return &CRIClient{conn: conn, images: runtimeapi.NewImageServiceClient(conn)}, nil
}

// Close closes the connection.
func (c *CRIClient) Close() error { return c.conn.Close() }

// Ready succeeds when the image service answers ListImages. It returns
// ErrCRIImageServiceMissing (wrapped) when the service is not registered.
func (c *CRIClient) Ready(ctx context.Context) error {
	_, err := c.images.ListImages(ctx, &runtimeapi.ListImagesRequest{})
	if status.Code(err) == codes.Unimplemented {
		return fmt.Errorf("%w: %v", ErrCRIImageServiceMissing, err)
	}
	if err != nil {
		return fmt.Errorf("CRI ListImages: %w", err)
	}
	return nil
}

// Pull pulls ref through the CRI and returns the image reference it reports
// (the image ID, i.e. the config digest, for containerd).
func (c *CRIClient) Pull(ctx context.Context, ref string) (string, error) {
	resp, err := c.images.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
	if err != nil {
		return "", fmt.Errorf("CRI PullImage %s: %w", ref, err)
	}
	return resp.GetImageRef(), nil
}

// ImageID returns the ID of ref as ImageStatus reports it, "" if absent.
func (c *CRIClient) ImageID(ctx context.Context, ref string) (string, error) {
	resp, err := c.images.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
	if err != nil {
		return "", fmt.Errorf("CRI ImageStatus %s: %w", ref, err)
	}
	return resp.GetImage().GetId(), nil
}
