package org.dmashare.internal;

import java.util.Arrays;

/**
 * A map from non-negative {@code long} keys to {@code long} values, open addressing with linear
 * probing. It exists because the allocators' "what is live at this address" maps sit on the hot
 * path of every allocate and free: a {@code HashMap<Long, Long>} boxes both key and value and
 * allocates an entry per put (about 60 bytes and two cache misses per live range), while this map
 * keeps two flat arrays and allocates nothing except when it grows.
 *
 * <p>Removal shifts later entries of the probe run back (no tombstones), so lookups stay short
 * however many puts and removes have happened. Not thread-safe: the owners lock around it.
 */
public final class LongLongMap {
    /** Marks an empty slot; keys are addresses and never negative. */
    private static final long EMPTY = -1L;
    private static final int MIN_CAPACITY = 16;

    private long[] keys;
    private long[] values;
    private int mask;
    /** 64 minus log2 of the capacity: {@link #slot} keeps the top bits of the product. */
    private int shift;
    private int size;

    /** An empty map. */
    public LongLongMap() {
        allocateArrays(MIN_CAPACITY);
    }

    private void allocateArrays(int capacity) {
        keys = new long[capacity];
        Arrays.fill(keys, EMPTY);
        values = new long[capacity];
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
     * @param missing what to return when the key is absent
     * @return the value, or {@code missing}
     */
    public long get(long key, long missing) {
        int i = slot(key);
        long k;
        while ((k = keys[i]) != EMPTY) {
            if (k == key) {
                return values[i];
            }
            i = (i + 1) & mask;
        }
        return missing;
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
    public void put(long key, long value) {
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
    }

    private void rehash(int capacity) {
        long[] oldKeys = keys;
        long[] oldValues = values;
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

    /** Receives one entry of {@link #forEach}. */
    @FunctionalInterface
    public interface EntryConsumer {
        /**
         * Called once per entry.
         *
         * @param key the key
         * @param value its value
         */
        void accept(long key, long value);
    }

    /**
     * Calls {@code action} for every entry, in no particular order.
     *
     * @param action receives each key and value; must not modify the map
     */
    public void forEach(EntryConsumer action) {
        for (int j = 0; j < keys.length; j++) {
            if (keys[j] != EMPTY) {
                action.accept(keys[j], values[j]);
            }
        }
    }
}
