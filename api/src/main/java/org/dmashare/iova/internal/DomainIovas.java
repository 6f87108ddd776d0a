package org.dmashare.iova.internal;

import java.util.Objects;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.iova.IovaAllocator;
import org.dmashare.iova.IovaSpace;

/**
 * The bridge between a domain's read-only {@link IovaSpace} and the {@link IovaAllocator} behind
 * it. Domains publish only the view; the layers that hand out IOVAs (the sharing helper and, in
 * its own module, the DMA-API model) reach the allocator through {@link #allocator(IovaSpace)}.
 * This package is not exported except to {@code org.dmashare.dmaapi}, so on the module path no
 * other code can free a range a buffer still holds.
 */
public final class DomainIovas {
    private DomainIovas() {}

    /**
     * The read-only view of {@code allocator} that a domain publishes.
     *
     * @param allocator the domain's allocator
     * @return a view that reads through to it
     * @throws NullPointerException if {@code allocator} is null
     */
    public static IovaSpace view(IovaAllocator allocator) {
        return new View(Objects.requireNonNull(allocator, "allocator"));
    }

    /**
     * The allocator behind a view made by {@link #view(IovaAllocator)}.
     *
     * @param space a domain's {@code iovaSpace()}
     * @return its allocator
     * @throws NullPointerException if {@code space} is null
     * @throws InvalidArgumentException if {@code space} is not such a view (a domain that neither
     *     extends {@code org.dmashare.iommu.support.PagingDomain} nor delegates {@code iovaSpace()}
     *     to one)
     */
    public static IovaAllocator allocator(IovaSpace space) {
        Objects.requireNonNull(space, "space");
        if (space instanceof View v) {
            return v.allocator;
        }
        throw new InvalidArgumentException(
                "IOVA space " + space + " (" + space.getClass().getName() + ") has no"
                        + " allocator the core can use: a domain must inherit iovaSpace() from"
                        + " org.dmashare.iommu.support.PagingDomain or delegate it to a domain that does");
    }

    /** Reads through to the allocator; no method changes it. */
    private static final class View implements IovaSpace {
        private final IovaAllocator allocator;

        View(IovaAllocator allocator) {
            this.allocator = allocator;
        }

        @Override
        public long start() {
            return allocator.start();
        }

        @Override
        public long end() {
            return allocator.end();
        }

        @Override
        public long granule() {
            return allocator.granule();
        }

        @Override
        public boolean isFree(long iova, long size) {
            return allocator.isFree(iova, size);
        }

        @Override
        public long findFree(long size, long alignment, long limit) {
            return allocator.findFree(size, alignment, limit);
        }

        @Override
        public int liveRanges() {
            return allocator.liveRanges();
        }

        @Override
        public long allocatedBytes() {
            return allocator.allocatedBytes();
        }

        @Override
        public IovaAllocator.Snapshot snapshot() {
            return allocator.snapshot();
        }

        @Override
        public String toString() {
            return "IOVA space " + Hex.range(start(), end() - start()) + ", " + liveRanges() + " live ranges";
        }
    }
}
