package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/berth-dev/berth/bench/internal/benchkit"
)

// roundOrder is which server each round measures first: berth, kube,
// kube, berth, ... (an ABBA design; with the client floor's stub last
// and first: berth, kube, stub, stub, kube, berth), so a machine that drifts during
// the run (a neighbour's load, the page cache, the disk) weighs on both
// servers alike instead of on whichever came second.
func roundOrder(round int) (berthFirst bool) { return round%2 == 0 }

// roundLabel names a round's server in the progress lines and the CPU
// profiles' file names.
func roundLabel(server string, round, rounds int) string {
	if rounds == 1 {
		return server
	}
	return fmt.Sprintf("%s-r%d", server, round+1)
}

// runRounds measures berth (and kube-apiserver, when configured) in
// cfg.rounds rounds, each on a fresh server and data dir, and pools them.
func runRounds(ctx context.Context, cfg config, bin, tmp string) (*berthResult, *kubeResult, *apiResult, error) {
	var bs []*berthResult
	var ks []*kubeResult
	var ss []*apiResult
	for round := range cfg.rounds {
		doBerth := func() error {
			b, err := benchBerth(ctx, cfg, bin, filepath.Join(tmp, fmt.Sprintf("berth-%d", round+1)), roundLabel("berth", round, cfg.rounds))
			if err != nil {
				return fmt.Errorf("berth (round %d): %w", round+1, err)
			}
			bs = append(bs, b)
			return nil
		}
		doKube := func() error {
			if cfg.kubeAPIServer == "" {
				return nil
			}
			k, err := benchKube(ctx, cfg, filepath.Join(tmp, fmt.Sprintf("kube-%d", round+1)), roundLabel("kube-apiserver", round, cfg.rounds))
			if err != nil {
				return fmt.Errorf("kube-apiserver (round %d): %w", round+1, err)
			}
			ks = append(ks, k)
			return nil
		}
		doStub := func() error {
			if !cfg.clientFloor {
				return nil
			}
			// The stub serves berth's answers from the first round, which
			// always measures berth first.
			s, err := benchStub(ctx, cfg, filepath.Join(tmp, fmt.Sprintf("stub-%d", round+1)), roundLabel("client floor", round, cfg.rounds),
				bs[0].podJSON, bs[0].configMapJSON)
			if err != nil {
				return fmt.Errorf("client floor (round %d): %w", round+1, err)
			}
			ss = append(ss, s)
			return nil
		}
		steps := []func() error{doBerth, doKube, doStub}
		if !roundOrder(round) {
			steps = []func() error{doStub, doKube, doBerth}
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return nil, nil, nil, err
			}
		}
	}
	// The server's own figures (start, stop) are the rounds' median; the
	// memory at the end is the largest.
	var (
		apis         []*apiResult
		ready, stops benchkit.Latencies
	)
	b := &berthResult{peakRSS: -1, rss: -1} // -1: unknown, as one round reports it
	for _, r := range bs {
		apis, ready, stops = append(apis, r.apiResult), append(ready, r.ready), append(stops, r.stop)
		b.peakRSS, b.rss = max(b.peakRSS, r.peakRSS), max(b.rss, r.rss)
		if r.stopErr != nil && b.stopErr == nil {
			b.stopErr = r.stopErr
		}
	}
	b.apiResult, b.ready, b.stop = poolResults(apis), ready.Pct(50), stops.Pct(50)
	var c *apiResult // the client floor's
	if len(ss) > 0 {
		c = poolResults(ss)
	}
	if len(ks) == 0 {
		return b, nil, c, nil
	}
	apis, ready = nil, nil
	k := &kubeResult{rss: -1}
	for _, r := range ks {
		apis, ready = append(apis, r.apiResult), append(ready, r.ready)
		k.rss = max(k.rss, r.rss)
	}
	k.apiResult, k.ready = poolResults(apis), ready.Pct(50)
	return b, k, c, nil
}

// poolResults joins rounds of one server: every latency of every round
// in one sample, rates as all operations over all the time, the memory
// growth as the rounds' mean. The sizes and the stored objects are the
// first round's (every round creates the same objects).
func poolResults(rs []*apiResult) *apiResult {
	if len(rs) == 0 {
		return &apiResult{}
	}
	out := *rs[0]
	out.create, out.get, out.list, out.listRaw, out.listSelector = nil, nil, nil, nil, nil
	out.getProto, out.listProto, out.watchLat = nil, nil, nil
	out.gets, out.creates, out.mixed = rate{}, rate{}, rate{}
	out.rssBefore, out.rssAfterPods = 0, 0
	rssKnown := true
	pool := func(dst *benchkit.Latencies, src benchkit.Latencies) { *dst = append(*dst, src...) }
	poolRate := func(dst *rate, src rate) {
		dst.ops += src.ops
		dst.elapsed += src.elapsed
		dst.lat = append(dst.lat, src.lat...)
	}
	for _, r := range rs {
		pool(&out.create, r.create)
		pool(&out.get, r.get)
		pool(&out.list, r.list)
		pool(&out.listRaw, r.listRaw)
		pool(&out.listSelector, r.listSelector)
		pool(&out.getProto, r.getProto)
		pool(&out.listProto, r.listProto)
		pool(&out.watchLat, r.watchLat)
		poolRate(&out.gets, r.gets)
		poolRate(&out.creates, r.creates)
		poolRate(&out.mixed, r.mixed)
		out.protoServed = out.protoServed && r.protoServed
		rssKnown = rssKnown && r.rssBefore > 0 && r.rssAfterPods > 0
		out.rssBefore += r.rssBefore / int64(len(rs))
		out.rssAfterPods += r.rssAfterPods / int64(len(rs))
	}
	if !rssKnown {
		out.rssBefore, out.rssAfterPods = -1, -1
	}
	return &out
}
