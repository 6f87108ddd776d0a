package org.dmashare.sharing;

import java.util.AbstractList;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.IovaSpaceExhaustedException;
import org.dmashare.MappingConflictException;
import org.dmashare.ObjectClosedException;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.Prot;

/**
 * A buffer mapped into one or more IOMMU domains by {@link DmaSharing}.
 *
 * <p>Guarantees, for every domain D it is mapped into: the buffer occupies one IOVA range
 * {@code [iova(D), iova(D) + length())} and byte {@code o} of that range translates to byte
 * {@code o} of {@link #blocks()}; {@code iova(D)}, every block's address and length, and
 * {@link #length()} are multiples of {@link #alignment()}; nothing outside the blocks is reachable
 * through the range. {@link #close()} unmaps from every domain and flushes every IOTLB before the
 * pages go back to the allocator.
 *
 * <p>Ownership, Okio-style. Who owns: an allocated buffer ({@link DmaSharing#allocate}) owns its
 * pages; the page allocator records it as their holder. Who may map them elsewhere: only an
 * importer given a lease ({@link #export()}) — knowing {@link #blocks()} is not enough. Who
 * frees: nobody explicitly; every holder keeps a reference (this buffer until closed, each open
 * lease, each buffer imported from a lease until closed) and the last release returns the pages to
 * the allocator, whatever the order. {@link #close()} always unmaps this buffer's own mappings at
 * once; an imported buffer's mappings stay until that importer closes. An imported buffer holds a
 * reference on its lender's pages and never owns them ({@link #ownsPages()} is false).
 *
 * <p>The CPU may read and write the bytes through {@link #read} and {@link #write} until the
 * buffer is closed; after {@code close} every accessor of state that no longer exists
 * ({@link #read}, {@link #write}, {@link #physicalAddress}, {@link #iova}, {@link #shareWith},
 * {@link #unshare}, {@link #export}) throws {@link ObjectClosedException}. Thread-safe.
 */
public final class SharedBuffer implements AutoCloseable {

    /**
     * Where the buffer is mapped in one domain.
     *
     * @param domain the domain
     * @param iova the first IOVA of the buffer's range there
     */
    public record Mapping(IommuDomain domain, long iova) {
        @Override
        public String toString() {
            return domain + " @ " + Hex.of(iova);
        }
    }

    /** The helper; its transaction does every mapping change (no field of its own: heap per buffer is a target). */
    private final DmaSharing sharing;

    private final long size;
    private final long length;
    private final long alignment;
    private final ScatterList blocks;
    /** The holder's pages this buffer keeps a reference on: its own, or its lender's. */
    private final Pages pages;

    private final boolean owned;
    private final Prot prot;
    private final boolean identical;
    /** With identical IOVAs, the declared future domains: the one range must be free there too. */
    private final List<IommuDomain> identicalFuture;
    /** Guarded by this. The IOVA in every domain of an identical-IOVA buffer, once reserved; else -1. */
    private long identicalIova = -1;
    /*
     * The mappings, guarded by this: the first two inline (the usual case: no list and no record
     * per mapping, about 70 bytes less per buffer; heap per buffer is a target), any further ones
     * in moreMappings. mappingsLocked() shows them as one List.
     */
    private IommuDomain domain0;
    private IommuDomain domain1;
    private long iova0;
    private long iova1;
    private int mappingCount;
    private ArrayList<Mapping> moreMappings;
    /** Guarded by this. */
    private boolean closed;

    SharedBuffer(
            DmaSharing sharing,
            long size,
            long length,
            long alignment,
            ScatterList blocks,
            Pages pages,
            boolean owned,
            ShareOptions options) {
        this.sharing = sharing;
        this.size = size;
        this.length = length;
        this.alignment = alignment;
        this.blocks = blocks;
        this.pages = pages;
        this.owned = owned;
        this.prot = options.prot();
        this.identical = options.identicalIova();
        this.identicalFuture = options.identicalIova() ? options.futureDomains() : List.of();
    }

    /**
     * The size asked for.
     *
     * @return bytes
     */
    public long size() {
        return size;
    }

    /**
     * The mapped length: the size rounded up to the alignment. Every byte of it belongs to the
     * buffer's own blocks.
     *
     * @return bytes
     */
    public long length() {
        return length;
    }

    /**
     * The alignment A of every IOVA, block and the length.
     *
     * @return A, a power of two
     */
    public long alignment() {
        return alignment;
    }

    /**
     * The physical blocks, in buffer order.
     *
     * @return the blocks
     */
    public ScatterList blocks() {
        return blocks;
    }

    /**
     * Whether the buffer owns its blocks (allocated them) rather than borrowing them from a lender.
     * An owner's pages are freed when it and every lease and import of them are closed.
     *
     * @return true if allocated by the helper, false if imported
     */
    public boolean ownsPages() {
        return owned;
    }

    /**
     * The rights of every mapping.
     *
     * @return the rights
     */
    public Prot prot() {
        return prot;
    }

    /**
     * Where the buffer is mapped, in the order the domains were added.
     *
     * @return an immutable snapshot
     */
    public synchronized List<Mapping> mappings() {
        return List.copyOf(mappingsLocked());
    }

    /**
     * The first IOVA of the buffer in {@code domain}.
     *
     * @param domain a domain the buffer is mapped into
     * @return the IOVA
     * @throws NullPointerException if {@code domain} is null
     * @throws InvalidArgumentException if the buffer is not mapped there
     * @throws ObjectClosedException if the buffer is closed
     */
    public synchronized long iova(IommuDomain domain) {
        Objects.requireNonNull(domain, "domain");
        checkOpen();
        Mapping m = find(domain);
        if (m == null) {
            throw new InvalidArgumentException(
                    "buffer is not mapped into " + domain + "; it is mapped into " + mappingsLocked());
        }
        return m.iova();
    }

    /**
     * Whether the buffer is mapped into {@code domain}.
     *
     * @param domain any domain
     * @return true if mapped there (never once closed)
     * @throws NullPointerException if {@code domain} is null
     */
    public synchronized boolean isMappedIn(IommuDomain domain) {
        Objects.requireNonNull(domain, "domain");
        return find(domain) != null;
    }

    /**
     * The physical address of byte {@code offset}.
     *
     * @param offset 0 .. length()-1
     * @return the physical address
     * @throws InvalidArgumentException if the offset is outside the buffer
     * @throws ObjectClosedException if the buffer is closed (its pages may belong to someone else)
     */
    public long physicalAddress(long offset) {
        checkOpen();
        return blocks.physicalAddress(offset);
    }

    /**
     * Maps the buffer into one more domain (late sharing, the PIODMA case), flushing its IOTLB.
     * With identical IOVAs the domain must have the buffer's IOVA range free.
     *
     * @param domain a paging domain over the same memory whose granule divides the alignment
     * @return the buffer's IOVA in that domain
     * @throws NullPointerException if {@code domain} is null
     * @throws org.dmashare.GranuleMismatchException if the domain's granule does not divide the
     *     alignment; the message names both sizes
     * @throws InvalidArgumentException if already mapped there, or the domain is over other memory
     * @throws ObjectClosedException if the buffer or the domain is closed
     * @throws MappingConflictException if identical IOVAs are required and the range is taken in
     *     that domain or lies outside its IOVA space
     * @throws IovaSpaceExhaustedException if the domain has no free range
     */
    public synchronized long shareWith(IommuDomain domain) {
        Objects.requireNonNull(domain, "domain");
        checkOpen();
        return sharing.transaction().shareWith(this, domain);
    }

    /**
     * Unmaps the buffer from one domain, flushes its IOTLB and frees the IOVA range.
     *
     * @param domain a domain the buffer is mapped into
     * @throws NullPointerException if {@code domain} is null
     * @throws InvalidArgumentException if the buffer is not mapped there
     * @throws ObjectClosedException if the buffer is closed
     */
    public synchronized void unshare(IommuDomain domain) {
        Objects.requireNonNull(domain, "domain");
        checkOpen();
        Mapping m = find(domain);
        if (m == null) {
            throw new InvalidArgumentException("buffer is not mapped into " + domain);
        }
        sharing.transaction().unmap(this, m);
        mappingsLocked().remove(m);
    }

    /**
     * Lends this buffer's pages: a new lease (a reference, like a dma-buf's) that
     * {@link DmaSharing#importScatterList} accepts for any non-overlapping parts of
     * {@link #blocks()}. The pages stay allocated until this buffer, the lease and every buffer
     * imported from it are all closed. Close the lease once imports are made.
     *
     * @return a new lease on the pages this buffer holds (its lender's, for an imported buffer)
     * @throws ObjectClosedException if the buffer is closed
     */
    public synchronized PageLease export() {
        checkOpen();
        if (!pages.retain()) {
            throw new AssertionError("an open buffer's pages were freed");
        }
        return new PageLease(pages, sharing.memory().allocator());
    }

    /**
     * CPU write into the buffer.
     *
     * @param offset first byte of the buffer
     * @param data the bytes
     * @throws NullPointerException if {@code data} is null
     * @throws InvalidArgumentException if the range is outside the buffer
     * @throws ObjectClosedException if the buffer is closed
     */
    public void write(long offset, byte[] data) {
        Objects.requireNonNull(data, "data");
        checkSpan(offset, data.length);
        int done = 0;
        while (done < data.length) {
            long pa = blocks.physicalAddress(offset + done);
            int n = (int) Math.min(data.length - done, segmentRemaining(offset + done));
            sharing.memory().write(pa, data, done, n);
            done += n;
        }
    }

    /**
     * CPU read from the buffer.
     *
     * @param offset first byte of the buffer
     * @param length number of bytes
     * @return the bytes
     * @throws InvalidArgumentException if the range is outside the buffer
     * @throws ObjectClosedException if the buffer is closed
     */
    public byte[] read(long offset, int length) {
        checkSpan(offset, length);
        byte[] out = new byte[length];
        int done = 0;
        while (done < length) {
            long pa = blocks.physicalAddress(offset + done);
            int n = (int) Math.min(length - done, segmentRemaining(offset + done));
            sharing.memory().read(pa, out, done, n);
            done += n;
        }
        return out;
    }

    /**
     * Unmaps the buffer from every domain, flushes every IOTLB, and only then drops its reference
     * on the pages: they go back to the allocator if no lease and no importer still holds them.
     * Afterwards no device can reach the pages through this buffer's ranges (imports keep their
     * own mappings). The freed IOVA ranges go straight back to their domains' IOVA allocators,
     * where the next buffer may get them at once, or, with the helper's IOVA quarantine on, stay
     * reserved until evicted or drained ({@link DmaSharing#DmaSharing(org.dmashare.memory.PhysicalMemory,
     * int)}). Closing twice is harmless. Domains that were closed first are skipped (their tables
     * are gone).
     */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            List<Mapping> mappings = mappingsLocked();
            for (int i = 0; i < mappings.size(); i++) {
                sharing.transaction().unmap(this, mappings.get(i));
            }
            mappings.clear();
            pages.release(sharing.memory().allocator());
        }
        sharing.released();
    }

    /**
     * Whether {@link #close()} was called.
     *
     * @return true once closed
     */
    public synchronized boolean isClosed() {
        return closed;
    }

    // ---- internals ----

    /** The live mapping list; the caller holds this buffer's monitor. */
    List<Mapping> mappingsLocked() {
        return new MappingList();
    }

    /**
     * The mappings as a mutable list (add at the end, remove, clear), stored in the buffer's own
     * fields; a {@link Mapping} is made each time one is read. Used under the buffer's monitor.
     */
    private final class MappingList extends AbstractList<Mapping> {
        @Override
        public int size() {
            return mappingCount;
        }

        @Override
        public Mapping get(int i) {
            Objects.checkIndex(i, mappingCount);
            return i == 0
                    ? new Mapping(domain0, iova0)
                    : i == 1 ? new Mapping(domain1, iova1) : moreMappings.get(i - 2);
        }

        @Override
        public Mapping set(int i, Mapping m) {
            Objects.checkIndex(i, mappingCount);
            Mapping old = get(i);
            store(i, m);
            return old;
        }

        @Override
        public boolean add(Mapping m) {
            Objects.requireNonNull(m, "mapping");
            if (mappingCount >= 2) {
                if (moreMappings == null) {
                    moreMappings = new ArrayList<>(2);
                }
                moreMappings.add(m);
            } else {
                store(mappingCount, m);
            }
            mappingCount++;
            modCount++;
            return true;
        }

        @Override
        public Mapping remove(int i) {
            Mapping old = get(i);
            for (int j = i; j < mappingCount - 1; j++) {
                store(j, get(j + 1));
            }
            mappingCount--;
            if (mappingCount >= 2) {
                moreMappings.remove(mappingCount - 2);
            } else {
                store(mappingCount, null);
            }
            if (mappingCount <= 2) {
                moreMappings = null;
            }
            modCount++;
            return old;
        }

        @Override
        public void clear() {
            domain0 = null;
            domain1 = null;
            moreMappings = null;
            mappingCount = 0;
            modCount++;
        }

        /** Writes slot {@code i} (null clears an inline slot); slot {@code i} exists. */
        private void store(int i, Mapping m) {
            if (i == 0) {
                domain0 = m == null ? null : m.domain();
                iova0 = m == null ? 0 : m.iova();
            } else if (i == 1) {
                domain1 = m == null ? null : m.domain();
                iova1 = m == null ? 0 : m.iova();
            } else {
                moreMappings.set(i - 2, m);
            }
        }
    }

    boolean identical() {
        return identical;
    }

    List<IommuDomain> identicalFuture() {
        return identicalFuture;
    }

    /** The caller holds this buffer's monitor. */
    long identicalIova() {
        return identicalIova;
    }

    /** The caller holds this buffer's monitor. */
    void identicalIova(long iova) {
        identicalIova = iova;
    }

    /** The mapping in {@code domain}, or null; the caller holds this buffer's monitor. */
    Mapping find(IommuDomain domain) {
        if (mappingCount > 0 && domain0 == domain) {
            return new Mapping(domain0, iova0);
        }
        if (mappingCount > 1 && domain1 == domain) {
            return new Mapping(domain1, iova1);
        }
        if (moreMappings != null) {
            for (Mapping m : moreMappings) {
                if (m.domain() == domain) {
                    return m;
                }
            }
        }
        return null;
    }

    private synchronized void checkOpen() {
        if (closed) {
            throw new ObjectClosedException("buffer " + this + " is closed");
        }
    }

    private void checkSpan(long offset, long n) {
        checkOpen();
        if (offset < 0 || n < 0 || offset > length - n) {
            throw new InvalidArgumentException(
                    "CPU access " + Hex.range(offset, n) + " is outside the buffer's " + Hex.size(length));
        }
    }

    private long segmentRemaining(long offset) {
        for (ScatterList.Segment s : blocks) {
            if (offset < s.length()) {
                return s.length() - offset;
            }
            offset -= s.length();
        }
        return 0;
    }

    @Override
    public synchronized String toString() {
        return "SharedBuffer[" + Hex.size(size) + " as " + Hex.size(length) + ", align " + Hex.size(alignment) + ", "
                + blocks.size() + " blocks, " + (closed ? "closed" : "mapped " + mappingsLocked()) + "]";
    }
}
