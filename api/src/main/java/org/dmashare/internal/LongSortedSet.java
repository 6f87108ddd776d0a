package org.dmashare.internal;

import java.util.Arrays;
import java.util.NoSuchElementException;
import java.util.TreeSet;

/**
 * A sorted set of {@code long}s with the few operations a buddy allocator's free list needs. It
 * exists because every buddy split and merge adds or removes one address per order (about 17 per
 * block of 1 GiB of memory), and a {@code TreeSet<Long>} boxes each one and walks a red-black tree.
 * Free lists are nearly always tiny, so the set is a sorted {@code long[]} searched by bisection;
 * past {@link #ARRAY_LIMIT} entries (heavily fragmented memory) it moves to a {@code TreeSet} so
 * inserts and removes stay O(log n) rather than shifting a large array. Not thread-safe.
 */
public final class LongSortedSet {
    /** Largest size kept as an array: shifting 256 longs costs less than one tree operation. */
    static final int ARRAY_LIMIT = 256;

    private long[] array = new long[4];
    private int size;
    /** Non-null once the set outgrew the array; then it holds every element. */
    private TreeSet<Long> tree;

    /** An empty set. */
    public LongSortedSet() {}

    /**
     * Whether the set is empty.
     *
     * @return true if empty
     */
    public boolean isEmpty() {
        return tree != null ? tree.isEmpty() : size == 0;
    }

    /**
     * Whether {@code value} is in the set.
     *
     * @param value any value
     * @return true if present
     */
    public boolean contains(long value) {
        return tree != null ? tree.contains(value) : Arrays.binarySearch(array, 0, size, value) >= 0;
    }

    /**
     * Adds {@code value}.
     *
     * @param value any value
     * @return true if it was not present
     */
    public boolean add(long value) {
        if (tree != null) {
            return tree.add(value);
        }
        // Fast path for the usual free list of zero or a few ascending addresses: append.
        if ((size == 0 || value > array[size - 1]) && size < array.length) {
            array[size++] = value;
            return true;
        }
        int i = Arrays.binarySearch(array, 0, size, value);
        if (i >= 0) {
            return false;
        }
        if (size == ARRAY_LIMIT) {
            tree = new TreeSet<>();
            for (int j = 0; j < size; j++) {
                tree.add(array[j]);
            }
            array = null;
            size = 0;
            return tree.add(value);
        }
        i = -i - 1;
        if (size == array.length) {
            array = Arrays.copyOf(array, size * 2);
        }
        System.arraycopy(array, i, array, i + 1, size - i);
        array[i] = value;
        size++;
        return true;
    }

    /**
     * Removes {@code value}.
     *
     * @param value any value
     * @return true if it was present
     */
    public boolean remove(long value) {
        if (tree != null) {
            return tree.remove(value);
        }
        // Fast path: buddy merges mostly remove the only or the last element.
        if (size > 0 && array[size - 1] == value) {
            size--;
            return true;
        }
        int i = Arrays.binarySearch(array, 0, size, value);
        if (i < 0) {
            return false;
        }
        System.arraycopy(array, i + 1, array, i, size - i - 1);
        size--;
        return true;
    }

    /**
     * Removes and returns the smallest element.
     *
     * @return the smallest element
     * @throws java.util.NoSuchElementException if the set is empty
     */
    public long pollFirst() {
        if (tree != null) {
            Long first = tree.pollFirst();
            if (first == null) {
                throw new NoSuchElementException("empty set");
            }
            return first;
        }
        if (size == 0) {
            throw new NoSuchElementException("empty set");
        }
        long first = array[0];
        size--;
        if (size > 0) {
            System.arraycopy(array, 1, array, 0, size);
        }
        return first;
    }
}
