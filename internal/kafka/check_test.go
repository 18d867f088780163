package kafka

import "testing"

func TestCheckDelivery(t *testing.T) {
	cases := []struct {
		name                   string
		acked, read            []string
		lost, dupes, reordered int
	}{
		{"clean", []string{"1", "2", "3"}, []string{"1", "2", "3"}, 0, 0, 0},
		{"lost", []string{"1", "2", "3"}, []string{"1", "3"}, 1, 0, 0},
		{"retry duplicates after later", []string{"1", "2", "3"}, []string{"1", "2", "1", "2", "3"}, 0, 2, 0},
		{"swapped", []string{"1", "2", "3"}, []string{"2", "1", "3"}, 0, 0, 1},
		{"unacked extra is fine", []string{"1", "2"}, []string{"1", "2", "9"}, 0, 0, 0},
		{"all lost", []string{"1", "2"}, nil, 2, 0, 0},
	}
	for _, c := range cases {
		l, d, r := CheckDelivery(c.acked, c.read)
		if l != c.lost || d != c.dupes || r != c.reordered {
			t.Errorf("%s: got lost=%d dupes=%d reordered=%d, want %d %d %d", c.name, l, d, r, c.lost, c.dupes, c.reordered)
		}
	}
}
