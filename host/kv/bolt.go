package kv

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

var bucket = []byte("kv")

// Bolt is a Store kept in one bbolt file: durable across restarts, each Set
// an atomic, fsynced transaction.
type Bolt struct {
	db  *bolt.DB
	now func() time.Time
}

// OpenBolt opens (creating if needed) the store in the file at path.
func OpenBolt(path string) (*Bolt, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("kv store %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("kv store %s: %w", path, err)
	}
	return &Bolt{db: db, now: time.Now}, nil
}

// Values are stored behind an 8-byte header: the expiry in Unix
// milliseconds, 0 for none.
const header = 8

func (s *Bolt) live(stored []byte) ([]byte, bool) {
	if len(stored) < header {
		return nil, false
	}
	exp := int64(binary.BigEndian.Uint64(stored))
	if exp != 0 && s.now().UnixMilli() >= exp {
		return nil, false
	}
	return stored[header:], true
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
	stored := make([]byte, header+len(value))
	if ttl > 0 {
		binary.BigEndian.PutUint64(stored, uint64(s.now().Add(ttl).UnixMilli()))
	}
	copy(stored[header:], value)
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).Put([]byte(key), stored)
	})
}

// Delete implements Store.
func (s *Bolt) Delete(_ context.Context, key string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).Delete([]byte(key))
	})
}

// Keys implements Store.
func (s *Bolt) Keys(_ context.Context, prefix string, limit int) ([]string, error) {
	var keys []string
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		p := []byte(prefix)
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p) && len(keys) < limit; k, v = c.Next() {
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
