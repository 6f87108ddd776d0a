package org.dmashare.internal;

import java.util.function.Consumer;

/**
 * A map from non-negative {@code long} keys to objects: the twin of {@link LongLongMap} for the
 * page table's "table object at this physical address" map, which every map, unmap and walk
 * consults; a {@code HashMap<Long, V>} boxes the key and allocates an entry per put. Probing and
 * removal are {@link LongKeyTable}'s.
 *
 * @param <V> the value type
 */
public final class LongObjectMap<V> extends LongKeyTable {
    private Object[] values;

    /** An empty map. */
    public LongObjectMap() {}

    @Override
    void allocateValues(int capacity) {
        values = new Object[capacity];
    }

    @Override
    Object values() {
        return values;
    }

    @Override
    void copyValue(Object oldValues, int from, int to) {
        values[to] = ((Object[]) oldValues)[from];
    }

    @Override
    void moveValue(int from, int to) {
        values[to] = values[from];
    }

    @Override
    void clearValue(int i) {
        values[i] = null; // do not keep a removed object reachable
    }

    /**
     * The value stored for {@code key}.
     *
     * @param key a non-negative key
     * @return the value, or null when the key is absent
     */
    @SuppressWarnings("unchecked")
    public V get(long key) {
        int i = indexOf(key);
        return i < 0 ? null : (V) values[i];
    }

    /**
     * Stores {@code value} for {@code key}, replacing any previous value.
     *
     * @param key a non-negative key
     * @param value the value
     * @throws IllegalArgumentException if the key is negative
     */
    public void put(long key, V value) {
        int i = insert(key); // may grow and replace the value array: index it afterwards
        values[i] = value;
    }

    /**
     * Calls {@code action} for every value, in no particular order.
     *
     * @param action receives each value; must not modify the map
     */
    @SuppressWarnings("unchecked")
    public void forEachValue(Consumer<? super V> action) {
        for (int j = 0; j < keys.length; j++) {
            if (keys[j] != EMPTY) {
                action.accept((V) values[j]);
            }
        }
    }
}
