package main

import (
	"testing"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchkit"
)

func TestRoundOrderIsABBA(t *testing.T) {
	var got []bool
	for r := range 4 {
		got = append(got, roundOrder(r))
	}
	want := []bool{true, false, true, false} // B K, K B, B K, K B
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("round %d: berth first = %v, want %v", i+1, got[i], want[i])
		}
	}
}

func TestPoolResults(t *testing.T) {
	ms := func(v ...int) benchkit.Latencies {
		var l benchkit.Latencies
		for _, x := range v {
			l = append(l, time.Duration(x)*time.Millisecond)
		}
		return l
	}
	a := &apiResult{create: ms(1, 2), watchLat: ms(5), protoServed: true, listItems: 10,
		gets: rate{ops: 100, elapsed: time.Second, lat: ms(1)}, rssBefore: 100, rssAfterPods: 300}
	b := &apiResult{create: ms(3), watchLat: ms(7), protoServed: true, listItems: 10,
		gets: rate{ops: 300, elapsed: time.Second, lat: ms(2)}, rssBefore: 100, rssAfterPods: 500}
	tests := []struct {
		name       string
		in         []*apiResult
		creates    int
		perSecond  float64
		growth     int64
		protoServe bool
	}{
		{"one round is itself", []*apiResult{a}, 2, 100, 200, true},
		{"two rounds pool latencies, rates and memory", []*apiResult{a, b}, 3, 200, 300, true},
		{"a round served JSON, one without memory figures", []*apiResult{a, {protoServed: false, rssBefore: -1}}, 2, 100, -1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := poolResults(tc.in)
			if len(got.create) != tc.creates {
				t.Errorf("create latencies: %d, want %d", len(got.create), tc.creates)
			}
			if got.gets.perSecond() != tc.perSecond {
				t.Errorf("gets/s: %v, want %v", got.gets.perSecond(), tc.perSecond)
			}
			growth := got.rssAfterPods - got.rssBefore
			if got.rssBefore < 0 {
				growth = -1
			}
			if growth != tc.growth {
				t.Errorf("memory growth: %d, want %d", growth, tc.growth)
			}
			if got.protoServed != tc.protoServe {
				t.Errorf("protoServed: %v, want %v", got.protoServed, tc.protoServe)
			}
			if got.listItems != 10 {
				t.Errorf("listItems: %d, want the first round's 10", got.listItems)
			}
		})
	}
	if len(a.create) != 2 {
		t.Fatal("pooling changed a round's own result")
	}
}
