package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/boxo/datastore/dshelp"
	"github.com/ipfs/go-cid"
)

// The CLI says the same whether a daemon runs or not: an export of a CID
// the repo lacks, or of a model one of whose blocks it lacks, fails with
// the node's error, not a cut-off answer, and writes no file.
func TestExportErrorsSameOnlineAndOffline(t *testing.T) {
	needModels(t)
	repo := newRepo(t)
	root := addStories(t, repo)
	leaves := rawLeaves(t, repo, root)
	if len(leaves) == 0 {
		t.Fatal("stories260K has no single-leaf component")
	}
	removeBlock(t, repo, leaves[len(leaves)-1])
	out := filepath.Join(t.TempDir(), "m.car")
	cases := map[string][]string{
		"absent CID":    {"export", absent, "-o", out},
		"missing block": {"export", root, "-o", out},
	}
	offline := map[string]string{}
	for name, args := range cases {
		offline[name] = repoFail(t, repo, args...)
		if !strings.Contains(offline[name], "not in the local repo") || !strings.Contains(offline[name], "accel pin add") {
			t.Errorf("%s offline: %s", name, offline[name])
		}
	}
	startDaemon(t, repo)
	for name, args := range cases {
		if online := repoFail(t, repo, args...); online != offline[name] {
			t.Errorf("%s: with a daemon the CLI says\n%s\nwithout one\n%s", name, online, offline[name])
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s: the failed export left %s (%v)", name, out, err)
		}
	}
}

// removeBlock deletes the file of block c from a repo no daemon holds.
func removeBlock(t *testing.T, repo string, c cid.Cid) {
	t.Helper()
	key := strings.TrimPrefix(dshelp.MultihashToDsKey(c.Hash()).String(), "/")
	if err := os.Remove(filepath.Join(repo, "blocks", key[len(key)-3:len(key)-1], key+".data")); err != nil {
		t.Fatal(err)
	}
}
