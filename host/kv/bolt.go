package kv

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/wasmroute/wasmroute/internal/kvmem"
)

var (
	bucket  = []byte("kv")
	meta    = []byte("meta")
	sizeKey = []byte("size") // in meta: the Size of every pair held, big-endian
)

// Bolt is a Store kept in one bbolt file: durable across restarts, each
// write an atomic, fsynced transaction.
type Bolt struct {
	db    *bolt.DB
	now   func() time.Time
	quota int64
}

// OpenBolt opens (creating if needed) the store in the file at path,
// holding at most quota bytes of keys and values (0 or less: DefaultQuota).
func OpenBolt(path string, quota int64) (*Bolt, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("kv store %s: another process holds it (is another wasmroute serving this app?); give this one its own with --data DIR, or keep the store in memory with --kv-memory", path)
	}
	if err != nil {
		return nil, fmt.Errorf("kv store %s: %w", path, err)
	}
	s := &Bolt{db: db, now: time.Now, quota: quotaOr(quota)}
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		m, err := tx.CreateBucketIfNotExists(meta)
		if err != nil || m.Get(sizeKey) != nil {
			return err
		}
		// A store from before quotas: count what it holds once.
		var size int64
		err = b.ForEach(func(k, v []byte) error { size += int64(len(k) + len(v) - header); return nil })
		if err != nil {
			return err
		}
		return putSize(tx, size)
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("kv store %s: %w", path, err)
	}
	return s, nil
}

// Values are stored behind an 8-byte header: the expiry in Unix
// milliseconds, 0 for none.
const header = 8

func (s *Bolt) expired(stored []byte) bool {
	if len(stored) < header {
		return true
	}
	exp := int64(binary.BigEndian.Uint64(stored))
	return exp != 0 && s.now().UnixMilli() >= exp
}

func (s *Bolt) live(stored []byte) ([]byte, bool) {
	if stored == nil || s.expired(stored) {
		return nil, false
	}
	return stored[header:], true
}

func (s *Bolt) stored(value []byte, ttl time.Duration) []byte {
	stored := make([]byte, header+len(value))
	if ttl > 0 {
		binary.BigEndian.PutUint64(stored, uint64(s.now().Add(ttl).UnixMilli()))
	}
	copy(stored[header:], value)
	return stored
}

func size(tx *bolt.Tx) int64 {
	return int64(binary.BigEndian.Uint64(tx.Bucket(meta).Get(sizeKey)))
}

func putSize(tx *bolt.Tx, n int64) error {
	return tx.Bucket(meta).Put(sizeKey, binary.BigEndian.AppendUint64(nil, uint64(n)))
}

// put stores an encoded value within the quota, in tx, dropping expired
// pairs first if that makes room.
func (s *Bolt) put(tx *bolt.Tx, key string, stored []byte) error {
	b := tx.Bucket(bucket)
	grow := func() int64 {
		old := b.Get([]byte(key))
		if old == nil {
			return int64(len(key) + len(stored) - header)
		}
		return int64(len(stored) - len(old))
	}
	total := size(tx)
	if total+grow() > s.quota {
		var dead [][]byte
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if s.expired(v) {
				dead = append(dead, k)
				total -= int64(len(k) + len(v) - header)
			}
		}
		for _, k := range dead {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		if total+grow() > s.quota {
			return ErrQuotaExceeded
		}
	}
	total += grow()
	if err := b.Put([]byte(key), stored); err != nil {
		return err
	}
	return putSize(tx, total)
}

// Get implements Store.
func (s *Bolt) Get(_ context.Context, key string) (value []byte, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		v, found := s.live(tx.Bucket(bucket).Get([]byte(key)))
		if found {
			value, ok = bytes.Clone(v), true
		}
		return nil
	})
	return value, ok, err
}

// Set implements Store.
func (s *Bolt) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	stored := s.stored(value, ttl)
	return s.db.Update(func(tx *bolt.Tx) error { return s.put(tx, key, stored) })
}

// Delete implements Store.
func (s *Bolt) Delete(_ context.Context, key string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		old := b.Get([]byte(key))
		if old == nil {
			return nil
		}
		n := size(tx) - int64(len(key)+len(old)-header)
		if err := b.Delete([]byte(key)); err != nil {
			return err
		}
		return putSize(tx, n)
	})
}

// Incr implements Store.
func (s *Bolt) Incr(_ context.Context, key string, delta int64) (n int64, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		stored := tx.Bucket(bucket).Get([]byte(key))
		v, ok := s.live(stored)
		var enc []byte
		if n, enc, err = kvmem.AddInt(v, ok, delta); err != nil {
			return err
		}
		next := make([]byte, header+len(enc))
		if ok {
			copy(next, stored[:header]) // the expiry stays
		}
		copy(next[header:], enc)
		return s.put(tx, key, next)
	})
	return n, err
}

// CompareAndSwap implements Store.
func (s *Bolt) CompareAndSwap(_ context.Context, key string, old, value []byte, ttl time.Duration) (swapped bool, err error) {
	stored := s.stored(value, ttl)
	err = s.db.Update(func(tx *bolt.Tx) error {
		v, ok := s.live(tx.Bucket(bucket).Get([]byte(key)))
		if ok != (old != nil) || (ok && !bytes.Equal(v, old)) {
			return nil
		}
		swapped = true
		return s.put(tx, key, stored)
	})
	return swapped && err == nil, err
}

// Keys implements Store.
func (s *Bolt) Keys(_ context.Context, prefix, after string, limit int) ([]string, error) {
	var keys []string
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		p := []byte(prefix)
		start := p
		if after > prefix {
			start = []byte(after)
		}
		for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, p) && len(keys) < limit; k, v = c.Next() {
			if string(k) <= after {
				continue
			}
			if _, ok := s.live(v); ok {
				keys = append(keys, string(k))
			}
		}
		return nil
	})
	return keys, err
}

// Close implements Store.
func (s *Bolt) Close() error { return s.db.Close() }
