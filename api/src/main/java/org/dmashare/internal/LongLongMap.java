package org.dmashare.internal;

/**
 * A map from non-negative {@code long} keys to {@code long} values. It exists because the
 * allocators' "what is live at this address" maps sit on the hot path of every allocate and free:
 * a {@code HashMap<Long, Long>} boxes both key and value and allocates an entry per put (about 60
 * bytes and two cache misses per live range), while this map keeps two flat arrays and allocates
 * nothing except when it grows. Probing and removal are {@link LongKeyTable}'s.
 */
public final class LongLongMap extends LongKeyTable {
    private long[] values;

    /** An empty map. */
    public LongLongMap() {}

    @Override
    void allocateValues(int capacity) {
        values = new long[capacity];
    }

    @Override
    Object values() {
        return values;
    }

    @Override
    void copyValue(Object oldValues, int from, int to) {
        values[to] = ((long[]) oldValues)[from];
    }

    @Override
    void moveValue(int from, int to) {
        values[to] = values[from];
    }

    @Override
    void clearValue(int i) {
        values[i] = 0;
    }

    /**
     * The value stored for {@code key}.
     *
     * @param key a non-negative key
     * @param missing what to return when the key is absent
     * @return the value, or {@code missing}
     */
    public long get(long key, long missing) {
        int i = indexOf(key);
        return i < 0 ? missing : values[i];
    }

    /**
     * Stores {@code value} for {@code key}, replacing any previous value.
     *
     * @param key a non-negative key
     * @param value any value
     * @throws IllegalArgumentException if the key is negative
     */
    public void put(long key, long value) {
        int i = insert(key); // may grow and replace the value array: index it afterwards
        values[i] = value;
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
