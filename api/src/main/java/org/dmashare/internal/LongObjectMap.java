package org.dmashare.internal;

import java.util.Arrays;

/**
 * A map from non-negative {@code long} keys to objects, open addressing with linear probing: the
 * twin of {@link LongLongMap} for the page table's "table object at this physical address" map,
 * which every map, unmap and walk consults; a {@code HashMap<Long, V>} boxes the key and allocates
 * an entry per put.
 *
 * <p>Removal shifts later entries of the probe run back (no tombstones), so lookups stay short
 * however many puts and removes have happened. Not thread-safe: the owners lock around it.
 */
public final class LongObjectMap<V> {
    /** Marks an empty slot; keys are addresses and never negative. */
    private static final long EMPTY = -1L;
    private static final int MIN_CAPACITY = 16;

    private long[] keys;
    private Object[] values;
    private int mask;
    /** 64 minus log2 of the capacity: {@link #slot} keeps the top bits of the product. */
    private int shift;
    private int size;

    /** An empty map. */
    public LongObjectMap() {
        allocateArrays(MIN_CAPACITY);
    }

    private void allocateArrays(int capacity) {
        keys = new long[capacity];
        Arrays.fill(keys, EMPTY);
        values = new Object[capacity];
        mask = capacity - 1;
        shift = 64 - Integer.numberOfTrailingZeros(capacity);
    }

    /**
     * Fibonacci hashing, taking the top bits of the product: addresses are multiples of a page
     * and often in arithmetic progression, which the top bits spread evenly (the middle or low
     * bits clustered them into long probe runs).
     */
    private int slot(long key) {
        return (int) ((key * 0x9E37_79B9_7F4A_7C15L) >>> shift);
    }

    /**
     * The value stored for {@code key}.
     *
     * @param key a non-negative key
     * @return the value, or null when the key is absent
     */
    @SuppressWarnings("unchecked")
    public V get(long key) {
        int i = slot(key);
        long k;
        while ((k = keys[i]) != EMPTY) {
            if (k == key) {
                return (V) values[i];
            }
            i = (i + 1) & mask;
        }
        return null;
    }

    /**
     * Whether {@code key} is present.
     *
     * @param key a non-negative key
     * @return true if present
     */
    public boolean containsKey(long key) {
        int i = slot(key);
        long k;
        while ((k = keys[i]) != EMPTY) {
            if (k == key) {
                return true;
            }
            i = (i + 1) & mask;
        }
        return false;
    }

    /**
     * Stores {@code value} for {@code key}, replacing any previous value.
     *
     * @param key a non-negative key
     * @param value any value
     * @throws IllegalArgumentException if the key is negative
     */
    public void put(long key, V value) {
        if (key < 0) {
            throw new IllegalArgumentException("negative key " + key);
        }
        int i = slot(key);
        long k;
        while ((k = keys[i]) != EMPTY) {
            if (k == key) {
                values[i] = value;
                return;
            }
            i = (i + 1) & mask;
        }
        keys[i] = key;
        values[i] = value;
        // Grow at 1/2 load: linear probing degrades quickly above that.
        if (++size > (mask + 1) >> 1) {
            rehash((mask + 1) << 1);
        }
    }

    /**
     * Removes {@code key}.
     *
     * @param key a non-negative key
     * @return true if it was present
     */
    public boolean remove(long key) {
        int i = slot(key);
        long k;
        while ((k = keys[i]) != EMPTY) {
            if (k == key) {
                deleteAt(i);
                size--;
                return true;
            }
            i = (i + 1) & mask;
        }
        return false;
    }

    /** Backward-shift deletion: moves later entries of the run into the hole if their home allows. */
    private void deleteAt(int hole) {
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
                values[hole] = values[i];
                hole = i;
            }
        }
        keys[hole] = EMPTY;
        values[hole] = null; // do not keep the removed object reachable
    }

    private void rehash(int capacity) {
        long[] oldKeys = keys;
        Object[] oldValues = values;
        allocateArrays(capacity);
        for (int j = 0; j < oldKeys.length; j++) {
            long k = oldKeys[j];
            if (k != EMPTY) {
                int i = slot(k);
                while (keys[i] != EMPTY) {
                    i = (i + 1) & mask;
                }
                keys[i] = k;
                values[i] = oldValues[j];
            }
        }
    }

    /**
     * Number of keys.
     *
     * @return the count
     */
    public int size() {
        return size;
    }

    /**
     * Calls {@code action} for every value, in no particular order.
     *
     * @param action receives each value; must not modify the map
     */
    @SuppressWarnings("unchecked")
    public void forEachValue(java.util.function.Consumer<? super V> action) {
        for (int j = 0; j < keys.length; j++) {
            if (keys[j] != EMPTY) {
                action.accept((V) values[j]);
            }
        }
    }

    /** Removes every entry; keeps the capacity. */
    public void clear() {
        Arrays.fill(keys, EMPTY);
        Arrays.fill(values, null);
        size = 0;
    }
}
