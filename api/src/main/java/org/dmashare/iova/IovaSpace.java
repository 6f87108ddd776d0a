package org.dmashare.iova;

/**
 * A read-only view of one domain's IOVA space: its bounds and what is allocated in it. Callers
 * outside the core read it (to check an address, to compare states before and after an
 * operation); only the core allocates and frees in a domain's space, so that no caller can free
 * a range a buffer still holds. Every query is consistent with itself and thread-safe; two
 * queries may see different states if another thread allocates in between.
 */
public interface IovaSpace {

    /**
     * Lowest IOVA the space hands out (never 0: the core never hands out IOVA 0).
     *
     * @return the start of the space
     */
    long start();

    /**
     * One past the highest IOVA of the space.
     *
     * @return the end of the space (exclusive)
     */
    long end();

    /**
     * The unit of every size, address and alignment in the space.
     *
     * @return the granule in bytes
     */
    long granule();

    /**
     * Whether every IOVA of {@code [iova, iova + size)} is inside the space and neither allocated
     * nor reserved.
     *
     * @param iova first IOVA
     * @param size bytes
     * @return true if the whole range is free
     */
    boolean isFree(long iova, long size);

    /**
     * Finds, without allocating, the highest free range of {@code size} bytes aligned to
     * {@code alignment} ending at or below {@code limit}.
     *
     * @param size bytes, a positive multiple of the granule
     * @param alignment a power of two, at least the granule
     * @param limit the range must end at or below this IOVA
     * @return the first IOVA of that range, or -1 if there is none
     * @throws org.dmashare.InvalidArgumentException if the size or alignment is invalid
     */
    long findFree(long size, long alignment, long limit);

    /**
     * Number of live allocations (reserved ranges not counted).
     *
     * @return the count
     */
    int liveRanges();

    /**
     * Bytes in live allocations.
     *
     * @return the sum of their sizes
     */
    long allocatedBytes();

    /**
     * The complete state, comparable with {@code equals} to prove an operation left the space
     * exactly as before.
     *
     * @return allocations and reservations sorted by address, immutable
     */
    IovaAllocator.Snapshot snapshot();
}
