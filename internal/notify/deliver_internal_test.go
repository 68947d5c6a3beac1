package notify

import (
	"slices"
	"testing"
)

// TestQueues: digests are queued by channel, the security team's first in
// its channel, and Parallel is shared out between the channels: at least
// an equal part each (or one per digest), never less than one, what one
// leaves going to the others.
func TestQueues(t *testing.T) {
	owner := func(ch string) Digest { return Digest{To: Recipient{Channel: ch}} }
	team := func(ch string) Digest { return Digest{To: Recipient{Channel: ch, Team: true}} }
	type q struct {
		digests []int
		workers int
	}
	for _, tt := range []struct {
		name     string
		digests  []Digest
		parallel int
		want     []q
	}{
		{"one channel", []Digest{owner("a"), owner("a"), owner("a")}, 8, []q{{[]int{0, 1, 2}, 3}}},
		{"the team first in its channel", []Digest{owner("a"), owner("a"), team("a")}, 2, []q{{[]int{2, 0, 1}, 2}}},
		{"the team's channel first", []Digest{owner("a"), owner("b"), team("t")}, 8,
			[]q{{[]int{2}, 1}, {[]int{0}, 1}, {[]int{1}, 1}}},
		{"shared out", []Digest{owner("a"), owner("a"), owner("a"), owner("a"), owner("b"), owner("b"), owner("b"), owner("b"), team("t")}, 8,
			[]q{{[]int{8}, 1}, {[]int{0, 1, 2, 3}, 3}, {[]int{4, 5, 6, 7}, 4}}},
		{"what a channel leaves", []Digest{owner("a"), owner("b"), owner("b"), owner("b"), owner("b"), owner("b"), owner("b"), owner("b"), owner("b"), owner("b")}, 4,
			[]q{{[]int{0}, 1}, {[]int{1, 2, 3, 4, 5, 6, 7, 8, 9}, 3}}},
		{"at least one each", []Digest{owner("a"), owner("b"), owner("c"), owner("a")}, 2,
			[]q{{[]int{0, 3}, 1}, {[]int{1}, 1}, {[]int{2}, 1}}},
		{"none", nil, 8, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []q
			for _, x := range queues(tt.digests, tt.parallel) {
				var idx []int
				for i := range x.digests {
					idx = append(idx, i)
				}
				got = append(got, q{idx, x.workers})
			}
			if !slices.EqualFunc(got, tt.want, func(a, b q) bool { return slices.Equal(a.digests, b.digests) && a.workers == b.workers }) {
				t.Errorf("queues = %v, want %v", got, tt.want)
			}
		})
	}
}
