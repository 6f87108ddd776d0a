package org.dmashare.sharing;

import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.LongAdder;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.IovaSpaceExhaustedException;
import org.dmashare.MappingConflictException;
import org.dmashare.ObjectClosedException;
import org.dmashare.PhysicalMemoryExhaustedException;
import org.dmashare.UnsafeScatterListException;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.memory.PhysicalMemory;

/**
 * The safe helper for sharing one buffer between devices behind different IOMMUs.
 *
 * <p>Given a size and a set of domains it computes the alignment A = max(CPU page size, every
 * domain's granule, the granules of declared future domains, any requested alignment); allocates
 * physical blocks whose address and length are multiples of A (largest blocks first, tolerating
 * fragmentation, never requiring physical contiguity) and zeroes them; reserves one IOVA range per
 * domain (or one IOVA free in all of them); maps the blocks into each domain with the largest page
 * sizes that fit; syncs each domain's IOTLB; and returns a {@link SharedBuffer}. If anything fails, everything done so far is
 * undone: every domain's mappings, every IOVA allocator and the page allocator are as before, except
 * that a domain may keep, mapping nothing, a page-table page its format's
 * {@link org.dmashare.pgtable.TableLifetime} keeps after the unwinding unmap (as Linux's iommu_map
 * unwinds with iommu_unmap).
 *
 * <p>Ownership: every page a buffer maps has an owner in the page allocator. An allocated buffer
 * owns its pages; other devices get them only through a lending ({@link SharedBuffer#export()} or
 * {@link #allocatePages}) passed to {@link #importScatterList}, and pages stay allocated until the
 * last holder (owner, lease or importer) closes.
 *
 * <p>IOVA reuse: by default ({@link #DmaSharing(PhysicalMemory)}) a closed buffer's IOVA ranges go
 * straight back to their domains' IOVA allocators, already unmapped and flushed. A device that
 * keeps using such an IOVA (a driver bug) faults with {@code TRANSLATION} until the range is
 * handed out again, and the allocator (top-down first fit) hands the same range to the next buffer
 * of that size or smaller that fits there, usually at once: from then on the stale access reaches
 * that buffer's bytes, silently. {@link #DmaSharing(PhysicalMemory, int)} keeps freed ranges in
 * quarantine instead (see there), so the stale access keeps faulting and is logged.
 *
 * <p>This is the "dance" of allocating for device A, exporting its scatter-gather table and
 * mapping it for device B, done so that it is correct by construction rather than by accident.
 * Thread-safe; one instance serves any number of threads.
 */
public final class DmaSharing {
    private final PhysicalMemory memory;
    /** Live buffers: a sum of per-thread cells, so threads sharing at once do not write one cache line. */
    private final LongAdder live = new LongAdder();

    private final ShareTransaction transaction;

    /**
     * Creates the helper for buffers in {@code memory}, without IOVA quarantine: a closed
     * buffer's IOVA ranges can be handed out again at once (see the class documentation).
     *
     * @param memory where buffers are allocated; every domain must translate to it
     * @throws NullPointerException if {@code memory} is null
     */
    public DmaSharing(PhysicalMemory memory) {
        this(memory, 0);
    }

    /**
     * Creates the helper for buffers in {@code memory} with IOVA quarantine, a debugging aid in
     * the spirit of Linux's flush queue: when a buffer is closed or unshared, its IOVA range in
     * each domain is unmapped and flushed as always, but stays reserved in that domain's IOVA
     * allocator, in a first-in first-out queue per domain, until {@code rangesPerDomain} later
     * ranges of the same domain have been released behind it or {@link #drainIovaQuarantine()}
     * is called. Until then no buffer can get that IOVA, so a device that keeps using it faults
     * with {@code TRANSLATION} and the fault is logged by its IOMMU, instead of reaching another
     * buffer. Ranges of a failed allocation, import or late sharing are never quarantined (no
     * device was given them).
     *
     * @param memory where buffers are allocated; every domain must translate to it
     * @param rangesPerDomain how many freed ranges each domain keeps out of use, 0 for none
     * @throws NullPointerException if {@code memory} is null
     * @throws InvalidArgumentException if {@code rangesPerDomain} is negative
     */
    public DmaSharing(PhysicalMemory memory, int rangesPerDomain) {
        this.memory = Objects.requireNonNull(memory, "memory");
        if (rangesPerDomain < 0) {
            throw new InvalidArgumentException("IOVA quarantine depth must be 0 (off) or a positive number of"
                    + " ranges per domain, got " + rangesPerDomain);
        }
        this.transaction = new ShareTransaction(memory, new IovaQuarantine(rangesPerDomain));
    }

    /**
     * The memory buffers are allocated from.
     *
     * @return the memory
     */
    public PhysicalMemory memory() {
        return memory;
    }

    /**
     * Number of buffers allocated or imported by this helper and not yet closed: exact with
     * respect to every allocation, import and close that returned before this call began.
     *
     * @return the count
     */
    public long liveBuffers() {
        return live.sum();
    }

    /**
     * How many freed IOVA ranges each domain keeps in quarantine ({@link #DmaSharing(PhysicalMemory, int)}).
     *
     * @return the depth, 0 when quarantine is off
     */
    public int iovaQuarantineDepth() {
        return transaction.quarantine().depth();
    }

    /**
     * Number of freed IOVA ranges of {@code domain} held in quarantine now.
     *
     * @param domain any domain
     * @return the count, 0 when quarantine is off
     * @throws NullPointerException if {@code domain} is null
     */
    public int quarantinedRanges(IommuDomain domain) {
        return transaction.quarantine().held(Objects.requireNonNull(domain, "domain"));
    }

    /**
     * Returns every quarantined IOVA range of every domain to its IOVA allocator. Call it once
     * devices are known to be quiet (the "explicit flush" of Linux's flush queue).
     */
    public void drainIovaQuarantine() {
        transaction.quarantine().drain();
    }

    /**
     * Allocates a buffer of {@code size} bytes and maps it read-write into every domain. Its bytes
     * are zero, as {@code dma_alloc_coherent}'s are: nothing a previous owner of the pages left
     * there reaches a device.
     *
     * @param size bytes, positive; the mapped length is rounded up to the alignment
     * @param domains paging domains over this helper's memory, at least one, no duplicates
     * @return the buffer, owner of its pages
     * @throws NullPointerException if {@code domains} or one of them is null
     * @throws InvalidArgumentException for a bad size, a duplicate domain, a domain over other
     *     memory, or a size no aperture or memory could hold
     * @throws ObjectClosedException if a domain is closed
     * @throws PhysicalMemoryExhaustedException if memory cannot supply aligned blocks
     * @throws IovaSpaceExhaustedException if a domain has no free IOVA range large enough
     */
    public SharedBuffer allocate(long size, List<? extends IommuDomain> domains) {
        return allocate(size, domains, ShareOptions.DEFAULTS);
    }

    /**
     * Allocates a buffer of {@code size} bytes, zeroed, and maps it into every domain as
     * {@code options} say. The buffer owns its pages: they go back to the allocator when it and
     * every lease and import made from it ({@link SharedBuffer#export()}) are closed.
     *
     * @param size bytes, positive, with the size rounded up to the alignment at most the memory's size
     * @param domains paging domains over this helper's memory, at least one, no duplicates
     * @param options rights, alignment, identical IOVA, future domains
     * @return the buffer
     * @throws NullPointerException if {@code domains}, one of them or {@code options} is null
     * @throws InvalidArgumentException for a bad size, a duplicate domain, a domain over other
     *     memory, or a size no aperture or memory could hold
     * @throws ObjectClosedException if a domain or a future domain is closed
     * @throws PhysicalMemoryExhaustedException if memory cannot supply aligned blocks
     * @throws IovaSpaceExhaustedException if a domain has no free IOVA range large enough
     * @throws MappingConflictException if a map fails (nothing is left mapped)
     */
    public SharedBuffer allocate(long size, List<? extends IommuDomain> domains, ShareOptions options) {
        List<IommuDomain> targets = transaction.checkDomains(domains, options);
        long alignment = transaction.alignment(targets, options);
        long length = checkSize(size, alignment);
        ShareTransaction.checkApertures(targets, length);
        Pages pages = transaction.allocatePages(length, alignment);
        try {
            SharedBuffer buffer = new SharedBuffer(this, size, length, alignment, pages.blocks, pages, true, options);
            synchronized (buffer) {
                transaction.mapInitial(buffer, targets);
            }
            live.increment();
            return buffer;
        } catch (RuntimeException e) {
            pages.release(memory.allocator());
            throw e;
        }
    }

    /**
     * Allocates zeroed pages for the caller to lend, mapped nowhere: blocks whose address and
     * length are multiples of {@code alignment} (at least the CPU page size), largest first,
     * covering {@code size} rounded up. The lease is their only owner: import parts of them with
     * {@link #importScatterList}; they go back to the allocator when the lease and every buffer
     * imported from it are closed.
     *
     * @param size bytes, positive
     * @param alignment a power of two, or 0 for the CPU page size
     * @return the lease on the new pages
     * @throws InvalidArgumentException if the size is not positive or, rounded up, exceeds the
     *     memory, or the alignment is not a power of two
     * @throws PhysicalMemoryExhaustedException if memory cannot supply aligned blocks
     */
    public PageLease allocatePages(long size, long alignment) {
        if (alignment < 0 || (alignment != 0 && Long.bitCount(alignment) != 1)) {
            throw new InvalidArgumentException("page alignment must be 0 or a power of two, got " + Hex.of(alignment));
        }
        long a = Math.max(memory.pageSize(), alignment);
        return new PageLease(transaction.allocatePages(checkSize(size, a), a), memory.allocator());
    }

    /**
     * Maps pages the caller was lent into every domain, contiguously, in the list's order.
     *
     * <p>Safety: every segment must lie inside memory, have its address and length multiples of
     * the alignment A (computed as for {@link #allocate}: anything else would split the IOVA range
     * or expose neighbouring memory), overlap no other segment, and cover only pages that
     * {@code lender} holds: pages of the buffer it was exported from, or pages allocated with
     * {@link #allocatePages}. Free pages, page-table pages and pages of any other owner are refused.
     *
     * <p>Ownership: the returned buffer takes its own reference on the lender's pages (pinning
     * them, as an iommufd or dma-buf importer does): the owner and the lease may close at any
     * time, in any order, and the pages stay allocated, and mapped here, until this buffer is
     * closed too. The owner's {@code close} unmaps only the owner's own mappings.
     * {@link SharedBuffer#ownsPages()} is false.
     *
     * @param lender an open lease on the pages ({@link SharedBuffer#export()} or {@link #allocatePages})
     * @param list the segments, in buffer order, inside the lender's pages
     * @param domains paging domains over this helper's memory, at least one, no duplicates
     * @param options rights, alignment, identical IOVA, future domains
     * @return the buffer
     * @throws NullPointerException if an argument or a domain is null
     * @throws UnsafeScatterListException naming the first refused segment (index and range), why,
     *     and what holds its pages; nothing is changed
     * @throws InvalidArgumentException for bad domains
     * @throws ObjectClosedException if the lease or a domain is closed
     * @throws IovaSpaceExhaustedException if a domain has no free IOVA range large enough
     * @throws MappingConflictException if a map fails (nothing is left mapped)
     */
    public SharedBuffer importScatterList(
            PageLease lender, ScatterList list, List<? extends IommuDomain> domains, ShareOptions options) {
        Objects.requireNonNull(lender, "lender");
        Objects.requireNonNull(list, "list");
        List<IommuDomain> targets = transaction.checkDomains(domains, options);
        long alignment = transaction.alignment(targets, options);
        Pages pages = lender.retainForImport();
        try {
            transaction.checkImport(pages, list, alignment);
            ShareTransaction.checkApertures(targets, list.totalLength());
            SharedBuffer buffer = new SharedBuffer(
                    this, list.totalLength(), list.totalLength(), alignment, list, pages, false, options);
            synchronized (buffer) {
                transaction.mapInitial(buffer, targets);
            }
            live.increment();
            return buffer;
        } catch (RuntimeException e) {
            pages.release(memory.allocator());
            throw e;
        }
    }

    /**
     * The alignment A a buffer for {@code domains} would get: max(CPU page size, each domain's
     * granule, each future domain's granule, the future granule, the requested alignment).
     *
     * @param domains the domains
     * @param options the options
     * @return A, a power of two
     * @throws NullPointerException if an argument or a domain is null
     */
    public long alignment(List<? extends IommuDomain> domains, ShareOptions options) {
        Objects.requireNonNull(domains, "domains");
        Objects.requireNonNull(options, "options");
        domains.forEach(d -> Objects.requireNonNull(d, "domain"));
        return transaction.alignment(domains, options);
    }

    // ---- package internals used by SharedBuffer ----

    ShareTransaction transaction() {
        return transaction;
    }

    void released() {
        live.decrement();
    }

    /** The length {@code size} rounds up to, refused unless positive and within memory. */
    private long checkSize(long size, long alignment) {
        long largest = memory.size() & -alignment;
        if (size <= 0 || size > largest) {
            throw new InvalidArgumentException(
                    "buffer size " + Hex.of(size) + " must be positive and, rounded up to the"
                            + " alignment " + Hex.size(alignment) + ", fit the memory's " + Hex.size(memory.size())
                            + ": at most " + Hex.size(largest));
        }
        return roundUp(size, alignment);
    }

    static long roundUp(long value, long alignment) {
        return (value + alignment - 1) & -alignment;
    }

    @Override
    public String toString() {
        return "DmaSharing[" + memory + ", " + live.sum() + " live buffers"
                + (iovaQuarantineDepth() > 0 ? ", IOVA quarantine " + iovaQuarantineDepth() + " ranges per domain" : "")
                + "]";
    }
}
