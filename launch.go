package cos

import (
	"context"
	"fmt"
)

func launchLocal(ctx context.Context, cfg *Config, kind jobKind, res any) error {
	return fmt.Errorf("local cluster launch: not wired yet")
}
