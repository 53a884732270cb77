package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berth-dev/berth/bench/internal/benchkit"
	"github.com/berth-dev/berth/internal/storage/etcd"
)

// floorResult is what was measured straight on etcd.
type floorResult struct {
	create, get, list benchkit.Latencies
	listItems         int
	listBytes         int // the values of one range, summed

	gets, creates, mixed rate

	start time.Duration // StartEmbedded until it serves
}

// Keys as berth lays them out: /registry/<resource>/<namespace>/<name>.
func podKey(i int) string { return "/registry/pods/" + namespace + "/" + podName(i) }

const podPrefix = "/registry/pods/" + namespace + "/"

func configMapKey(worker, i int) string {
	return "/registry/configmaps/" + namespace + "/" + configMapName(worker, i)
}

// benchFloor starts an embedded etcd on dir, as berth does, and measures
// the storage work under each API operation: Put of the bytes berth stored,
// Get of one key, Range of the namespace's pods, and the same concurrent
// loads over one shared client.
func benchFloor(ctx context.Context, cfg config, dir string, podJSON [][]byte, configMapJSON []byte) (*floorResult, error) {
	benchkit.Progress("etcd floor: starting embedded etcd on %s", dir)
	t := time.Now()
	e, err := etcd.StartEmbedded(ctx, etcd.EmbeddedConfig{Dir: dir})
	if err != nil {
		return nil, err
	}
	defer e.Close()
	res := &floorResult{start: time.Since(t)}
	kv := e.Client()

	// Like the API server's first requests, the client's connection is
	// warm before anything is measured.
	for range 10 {
		if _, err := kv.Get(ctx, "/registry/namespaces/"+namespace); err != nil {
			return nil, err
		}
	}

	benchkit.Progress("etcd floor: %d puts one after the other", cfg.pods)
	res.create, err = sequential(ctx, cfg.pods, func(ctx context.Context, i int) error {
		_, err := kv.Put(ctx, podKey(i), string(podJSON[i]))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("put: %w", err)
	}
	get := func(ctx context.Context) error {
		key := podKey(rand.IntN(cfg.pods))
		r, err := kv.Get(ctx, key)
		if err == nil && len(r.Kvs) != 1 {
			err = fmt.Errorf("get %s: not found", key)
		}
		return err
	}
	benchkit.Progress("etcd floor: %d random gets", cfg.n)
	res.get, err = sequential(ctx, cfg.n, func(ctx context.Context, _ int) error { return get(ctx) })
	if err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	lists := listCount(cfg.n)
	benchkit.Progress("etcd floor: %d ranges of %d keys", lists, cfg.pods)
	rangeAll := func(ctx context.Context, _ int) error {
		r, err := kv.Get(ctx, podPrefix, clientv3.WithPrefix())
		if err != nil {
			return err
		}
		res.listItems, res.listBytes = len(r.Kvs), 0
		for _, x := range r.Kvs {
			res.listBytes += len(x.Value)
		}
		return nil
	}
	if err := rangeAll(ctx, 0); err != nil { // warm-up, not measured
		return nil, fmt.Errorf("range: %w", err)
	}
	if res.list, err = sequential(ctx, lists, rangeAll); err != nil {
		return nil, fmt.Errorf("range: %w", err)
	}

	benchkit.Progress("etcd floor: %d clients × %s: gets", cfg.clients, cfg.duration)
	res.gets, err = concurrent(ctx, cfg.clients, cfg.duration, func(ctx context.Context, _, _ int) error { return get(ctx) })
	if err != nil {
		return nil, fmt.Errorf("concurrent gets: %w", err)
	}
	benchkit.Progress("etcd floor: %d clients × %s: configmap puts", cfg.clients, cfg.duration)
	res.creates, err = concurrent(ctx, cfg.clients, cfg.duration, func(ctx context.Context, w, i int) error {
		_, err := kv.Put(ctx, configMapKey(w, i), string(configMapJSON))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("concurrent puts: %w", err)
	}
	benchkit.Progress("etcd floor: %d clients × %s: mixed", cfg.clients, cfg.duration)
	res.mixed, err = concurrent(ctx, cfg.clients, cfg.duration, func(ctx context.Context, w, i int) error {
		if i%5 == 4 {
			_, err := kv.Put(ctx, configMapKey(w+cfg.clients, i), string(configMapJSON))
			return err
		}
		return get(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("concurrent mixed: %w", err)
	}
	return res, nil
}
