package org.dmashare.internal;

import java.util.Arrays;

/**
 * The key half of an open-addressing map from non-negative {@code long} keys (physical or IO
 * virtual addresses): linear probing with Fibonacci hashing, growth at three-quarter load, and removal by
 * shifting later entries of the probe run back (no tombstones, so lookups stay short however many
 * puts and removes have happened). Subclasses keep the values in a parallel array of their own
 * type and move them when this class moves keys. Not thread-safe: the owners lock around it.
 */
abstract class LongKeyTable {
    /** Marks an empty slot; keys are addresses and never negative. */
    static final long EMPTY = -1L;

    private static final int MIN_CAPACITY = 16;

    long[] keys;
    private int mask;
    /** 64 minus log2 of the capacity: {@link #slot} keeps the top bits of the product. */
    private int shift;

    private int size;

    LongKeyTable() {
        allocate(MIN_CAPACITY);
    }

    private void allocate(int capacity) {
        keys = new long[capacity];
        Arrays.fill(keys, EMPTY);
        mask = capacity - 1;
        shift = 64 - Integer.numberOfTrailingZeros(capacity);
        allocateValues(capacity);
    }

    /** Creates the value array for {@code capacity} slots. */
    abstract void allocateValues(int capacity);

    /** The value array, handed back to {@link #copyValue} while growing. */
    abstract Object values();

    /** Copies the value at {@code from} of an old value array to slot {@code to}. */
    abstract void copyValue(Object oldValues, int from, int to);

    /** Moves the value at slot {@code from} to slot {@code to}. */
    abstract void moveValue(int from, int to);

    /** Forgets the value at slot {@code i}. */
    abstract void clearValue(int i);

    /**
     * Fibonacci hashing, taking the top bits of the product: addresses are multiples of a page
     * and often in arithmetic progression, which the top bits spread evenly (the middle or low
     * bits clustered them into long probe runs).
     */
    private int slot(long key) {
        return (int) ((key * 0x9E37_79B9_7F4A_7C15L) >>> shift);
    }

    /** The slot holding {@code key}, or {@code -1 - (the empty slot where it would go)}. */
    private int probe(long key) {
        int i = slot(key);
        long k;
        while ((k = keys[i]) != EMPTY) {
            if (k == key) {
                return i;
            }
            i = (i + 1) & mask;
        }
        return -1 - i;
    }

    /** The slot holding {@code key}, or -1. */
    final int indexOf(long key) {
        return Math.max(-1, probe(key));
    }

    /**
     * The slot for {@code key}: where it is, or where it has just been placed (the caller stores
     * the value there).
     */
    final int insert(long key) {
        if (key < 0) {
            throw new IllegalArgumentException("negative key " + key);
        }
        int i = probe(key);
        if (i >= 0) {
            return i;
        }
        // Grow at 3/4 load. Linear probing degrades above 1/2 load for clustered hashes, but the
        // keys here are addresses a granule or page apart, which Fibonacci hashing spreads almost
        // without collisions, so runs stay short; 3/4 halves the tables' heap at many live keys
        // (heap per live buffer is a target: this map is per allocator, and each buffer holds a
        // block and an IOVA range per domain).
        if (size + 1 > ((mask + 1) >> 2) * 3) {
            grow((mask + 1) << 1);
            i = probe(key);
        }
        i = -1 - i;
        keys[i] = key;
        size++;
        return i;
    }

    /**
     * Removes {@code key}.
     *
     * @param key a non-negative key
     * @return true if it was present
     */
    public final boolean remove(long key) {
        int hole = indexOf(key);
        if (hole < 0) {
            return false;
        }
        int i = hole;
        while (true) {
            i = (i + 1) & mask;
            long k = keys[i];
            if (k == EMPTY) {
                break;
            }
            int home = slot(k);
            // Move k into the hole unless its home lies cyclically in (hole, i].
            boolean homeAfterHole = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
            if (!homeAfterHole) {
                keys[hole] = k;
                moveValue(i, hole);
                hole = i;
            }
        }
        keys[hole] = EMPTY;
        clearValue(hole);
        size--;
        return true;
    }

    private void grow(int capacity) {
        long[] oldKeys = keys;
        Object oldValues = values();
        allocate(capacity);
        for (int j = 0; j < oldKeys.length; j++) {
            long k = oldKeys[j];
            if (k != EMPTY) {
                int i = slot(k);
                while (keys[i] != EMPTY) {
                    i = (i + 1) & mask;
                }
                keys[i] = k;
                copyValue(oldValues, j, i);
            }
        }
    }

    /**
     * Whether {@code key} is present.
     *
     * @param key a non-negative key
     * @return true if present
     */
    public final boolean containsKey(long key) {
        return indexOf(key) >= 0;
    }

    /**
     * Number of keys.
     *
     * @return the count
     */
    public final int size() {
        return size;
    }

    /** Removes every entry; keeps the capacity. */
    public void clear() {
        Arrays.fill(keys, EMPTY);
        for (int i = 0; i < keys.length; i++) {
            clearValue(i);
        }
        size = 0;
    }
}
