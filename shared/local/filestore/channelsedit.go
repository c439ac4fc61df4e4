package filestore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/iotwatch/iotwatch/shared/domain/channel"
	"github.com/iotwatch/iotwatch/shared/local/durable"
)

// ChannelsFile is a channels file (`user_id,channel,target,min_severity,secret`) as `iotwatch
// channels put|list|delete` change it, the one `iotwatch run --channels` reads. Each change reads
// the whole file (it must be valid), changes its channels and replaces it durably (a run reads the
// old file or the new, never a part). It holds targets and secrets in clear: a new file is made
// readable by its owner only (0600), an existing one keeps its permissions.
type ChannelsFile struct {
	Path string
}

// Channels returns the file's channels (of user, when not ""); a file that does not exist holds
// none.
func (f ChannelsFile) Channels(_ context.Context, user string) ([]channel.Channel, error) {
	chans, err := f.read()
	if err != nil || user == "" {
		return chans, err
	}
	return channel.Of(chans, user), nil
}

func (f ChannelsFile) read() ([]channel.Channel, error) {
	chans, _, err := readFile(f.Path, channel.ParseCSV)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the channels file (fix it first, nothing changed):\n%w", err)
	}
	return chans, nil
}

// PutChannels replaces the channels of the same (user, kind, target) in place and appends the new
// ones.
func (f ChannelsFile) PutChannels(_ context.Context, chans []channel.Channel) error {
	held, err := f.read()
	if err != nil {
		return err
	}
	at := make(map[string]int, len(held))
	for i, c := range held {
		at[c.ID()] = i
	}
	for _, c := range chans {
		if i, ok := at[c.ID()]; ok {
			held[i] = c
			continue
		}
		at[c.ID()] = len(held)
		held = append(held, c)
	}
	return f.write(held)
}

// DeleteChannels removes user's channels of the given ids (channel.Channel.ID); if any of them is
// not in the file, nothing is deleted.
func (f ChannelsFile) DeleteChannels(_ context.Context, user string, ids []string) error {
	held, err := f.read()
	if err != nil {
		return err
	}
	gone := make(map[string]bool, len(ids))
	for _, id := range ids {
		gone[id] = true
	}
	kept := held[:0:0]
	for _, c := range held {
		if c.UserID == user && gone[c.ID()] {
			delete(gone, c.ID())
			continue
		}
		kept = append(kept, c)
	}
	if len(gone) > 0 {
		var missing []string
		for _, id := range ids {
			if gone[id] {
				missing = append(missing, id)
			}
		}
		return fmt.Errorf("user %s has no channel %s in %s, nothing deleted", user, strings.Join(missing, ", "), f.Path)
	}
	return f.write(kept)
}

func (f ChannelsFile) write(chans []channel.Channel) error {
	var b bytes.Buffer
	if err := channel.WriteCSV(&b, chans); err != nil {
		return err
	}
	perm := os.FileMode(0o600)
	if fi, err := os.Stat(f.Path); err == nil {
		perm = fi.Mode().Perm()
	}
	if err := durable.WriteFile(f.Path, b.Bytes(), perm); err != nil {
		return fmt.Errorf("writing %s: %w", f.Path, err)
	}
	return nil
}
