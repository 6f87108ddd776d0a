package org.dmashare.sharing;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import org.dmashare.GranuleMismatchException;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.IovaSpaceExhaustedException;
import org.dmashare.MappingConflictException;
import org.dmashare.ObjectClosedException;
import org.dmashare.PhysicalMemoryExhaustedException;
import org.dmashare.UnsafeScatterListException;
import org.dmashare.iommu.DomainType;
import org.dmashare.iommu.IommuApi;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iova.IovaAllocator;
import org.dmashare.iova.internal.DomainIovas;
import org.dmashare.memory.PageAllocator;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;

/**
 * The one owner of the sharing transaction: validates domains, decides the alignment A and the
 * IOVA alignment, and does reserve IOVA, map, sync, commit (or unwinds everything it did) for
 * {@link DmaSharing#allocate}, {@link DmaSharing#importScatterList} and
 * {@link SharedBuffer#shareWith}; and unmap, flush, release IOVA for {@link SharedBuffer#unshare}
 * and {@link SharedBuffer#close}; and allocates and checks the pages (ownership) for allocation and
 * import. {@link SharedBuffer} only holds state and delegates here.
 *
 * <p>Callers hold the buffer's monitor for the methods that take a buffer. The identical-IOVA
 * lock nests inside it (see the package documentation for the order).
 */
final class ShareTransaction {
    private static final int MAX_IDENTICAL_ATTEMPTS = 64;

    private final PhysicalMemory memory;
    private final IovaQuarantine quarantine;
    /** Serialises identical-IOVA searches so that two of them do not keep taking each other's range. */
    private final Object identicalIovaLock = new Object();

    ShareTransaction(PhysicalMemory memory, IovaQuarantine quarantine) {
        this.memory = memory;
        this.quarantine = quarantine;
    }

    IovaQuarantine quarantine() {
        return quarantine;
    }

    // ---- decisions, made once ----

    /** A = max(CPU page size, each domain's granule, each future domain's granule, the future granule, the requested alignment). */
    long alignment(List<? extends IommuDomain> domains, ShareOptions options) {
        long a = Math.max(memory.pageSize(), Math.max(options.alignment(), options.futureGranule()));
        for (IommuDomain d : domains) {
            a = Math.max(a, d.granule());
        }
        for (IommuDomain d : options.futureDomains()) {
            a = Math.max(a, d.granule());
        }
        return a;
    }

    /**
     * IOVA alignment in one domain: A, raised to the largest page size the domain supports that
     * the first block's address and length allow, so that large blocks become large leaves.
     */
    private static long iovaAlignment(ScatterList blocks, IommuDomain d, long align) {
        ScatterList.Segment first = blocks.segments().get(0);
        long natural = Math.min(
                Long.lowestOneBit(first.pa() == 0 ? Long.MIN_VALUE : first.pa()), Long.highestOneBit(first.length()));
        long sizes = d.pageSizes() & ((natural << 1) - 1);
        return sizes != 0 ? Math.max(align, Long.highestOneBit(sizes)) : align;
    }

    // ---- validation ----

    /** Validates one domain for mapping a buffer of this helper. */
    void checkDomain(IommuDomain d) {
        Objects.requireNonNull(d, "domain");
        if (d.isClosed()) {
            throw new ObjectClosedException("domain " + d + " is closed");
        }
        if (d.type() != DomainType.PAGING) {
            throw new InvalidArgumentException(
                    "domain " + d + " is a " + d.type() + " domain; buffers can only be mapped into paging domains");
        }
        if (d.iommu().memory() != memory) {
            throw new InvalidArgumentException(
                    "domain " + d + " translates to " + d.iommu().memory() + ", not to this helper's " + memory);
        }
        iovas(d); // refuses, before anything changes, a domain whose IOVA space the core cannot allocate in
    }

    static void checkGranule(IommuDomain d, long alignment) {
        if (alignment % d.granule() != 0) {
            throw new GranuleMismatchException("cannot map a buffer aligned to " + Hex.size(alignment) + " into " + d
                    + ": its granule " + Hex.size(d.granule()) + " does not divide the buffer's alignment. Allocate the"
                    + " buffer with this domain declared as a future domain (alignment " + Hex.size(d.granule())
                    + " or more)");
        }
    }

    /** Validates the target domains and the future domains; returns an immutable copy of the targets. */
    List<IommuDomain> checkDomains(List<? extends IommuDomain> domains, ShareOptions options) {
        Objects.requireNonNull(domains, "domains");
        Objects.requireNonNull(options, "options");
        if (domains.isEmpty()) {
            throw new InvalidArgumentException("a buffer needs at least one domain to map into, got none");
        }
        // Duplicates by identity: a nested loop for the usual handful of domains (no allocation on
        // the share path), an identity set beyond that.
        Set<IommuDomain> seen = domains.size() > 16 ? Collections.newSetFromMap(new IdentityHashMap<>()) : null;
        int i = 0;
        for (IommuDomain d : domains) {
            checkDomain(d);
            boolean duplicate = false;
            if (seen != null) {
                duplicate = !seen.add(d);
            } else {
                for (int j = 0; j < i && !duplicate; j++) {
                    duplicate = domains.get(j) == d;
                }
            }
            if (duplicate) {
                throw new InvalidArgumentException("domain " + d + " is listed twice; each domain gets one mapping");
            }
            i++;
        }
        for (IommuDomain d : options.futureDomains()) {
            ShareOptions.checkFutureDomain(d);
            if (d.iommu().memory() != memory) {
                throw new InvalidArgumentException("future domain " + d + " translates to other memory than " + memory);
            }
        }
        return List.copyOf(domains);
    }

    /** Refuses a length larger than some domain's whole IOVA space. */
    static void checkApertures(List<IommuDomain> domains, long length) {
        for (IommuDomain d : domains) {
            long space = d.iovaSpace().end() - d.iovaSpace().start();
            if (length > space) {
                throw new InvalidArgumentException("buffer of " + Hex.size(length) + " cannot fit the IOVA space of "
                        + d + ": " + Hex.range(d.iovaSpace().start(), space));
            }
        }
    }

    // ---- pages ----

    /**
     * Largest-first blocks aligned to {@code alignment} covering {@code length}, allocated for a
     * new holder and zeroed (freed pages keep their last owner's data); all or nothing.
     */
    Pages allocatePages(long length, long alignment) {
        PageAllocator allocator = memory.allocator();
        long holder = allocator.newHolder();
        ScatterList blocks = allocateBlocks(allocator, holder, length, alignment);
        for (ScatterList.Segment s : blocks) {
            memory.fill(s.pa(), s.length(), (byte) 0);
        }
        return new Pages(blocks, holder);
    }

    private static ScatterList allocateBlocks(PageAllocator allocator, long holder, long length, long alignment) {
        // Usually one block (the buddy allocator hands out the largest that fits): no list until a second.
        List<ScatterList.Segment> blocks = List.of();
        long remaining = length;
        long max = Long.highestOneBit(remaining);
        try {
            while (remaining > 0) {
                max = Math.min(max, Long.highestOneBit(remaining));
                PageAllocator.Block b = allocator.allocateLargest(max, alignment, PageUse.BUFFER, holder);
                if (b.size() == length) {
                    // One block, the usual case: no list to build and copy.
                    return ScatterList.of(new ScatterList.Segment(b.pa(), b.size()));
                }
                if (blocks.isEmpty()) {
                    blocks = new ArrayList<>();
                }
                blocks.add(new ScatterList.Segment(b.pa(), b.size()));
                remaining -= b.size();
                max = b.size();
            }
        } catch (RuntimeException e) {
            for (ScatterList.Segment s : blocks) {
                allocator.free(s.pa(), s.length(), holder);
            }
            if (e instanceof PhysicalMemoryExhaustedException) {
                // Measured after giving back the blocks taken so far: what the caller can use now.
                PageAllocator.Usage now = allocator.usage();
                throw new PhysicalMemoryExhaustedException(
                        "cannot allocate " + Hex.size(length) + " in blocks aligned to "
                                + Hex.size(alignment) + ": " + Hex.size(now.freeBytes()) + " free, largest free block "
                                + Hex.size(allocator.largestFreeBlock()) + ", and the free blocks of at least "
                                + Hex.size(alignment) + " do not add up to " + Hex.size(length),
                        e);
            }
            throw e;
        }
        return ScatterList.of(blocks);
    }

    /**
     * Refuses an import unless every segment lies in memory, is aligned to A, overlaps no earlier
     * segment and covers only pages held by {@code pages}' holder. Reads only; the caller holds a
     * reference on {@code pages}, so the lender's blocks cannot be freed meanwhile.
     */
    void checkImport(Pages pages, ScatterList list, long alignment) {
        PageAllocator allocator = memory.allocator();
        TreeMap<Long, Long> earlier = new TreeMap<>();
        int index = 0;
        for (ScatterList.Segment s : list) {
            String why = null;
            if (!memory.contains(s.pa(), s.length())) {
                why = "it lies outside memory " + Hex.range(memory.base(), memory.size());
            } else if (s.pa() % alignment != 0 || s.length() % alignment != 0) {
                why = (s.pa() % alignment != 0 ? "its address " + Hex.of(s.pa()) : "its length " + Hex.of(s.length()))
                        + " is not a multiple of the alignment " + Hex.size(alignment) + " required by the domains'"
                        + " granules; mapping it would split the IOVA range or expose memory outside the list";
            } else {
                why = overlap(earlier, s, list);
                if (why == null) {
                    why = notLent(allocator, pages, s);
                }
            }
            if (why != null) {
                throw new UnsafeScatterListException(
                        index,
                        "cannot import scatter list: segment " + index + " " + s
                                + " is unsafe: " + why
                                + ". Accepted: non-overlapping segments whose address and length are"
                                + " multiples of " + Hex.size(alignment) + ", inside the lender's pages "
                                + pages.blocks.segments()
                                + " (holder #" + pages.holder + ")");
            }
            earlier.put(s.pa(), s.end());
            index++;
        }
    }

    /** Why {@code s} overlaps an earlier segment, or null. */
    private static String overlap(TreeMap<Long, Long> earlier, ScatterList.Segment s, ScatterList list) {
        Map.Entry<Long, Long> below = earlier.floorEntry(s.pa());
        Map.Entry<Long, Long> above = earlier.ceilingEntry(s.pa());
        Map.Entry<Long, Long> hit = below != null && below.getValue() > s.pa()
                ? below
                : above != null && above.getKey() < s.end() ? above : null;
        if (hit == null) {
            return null;
        }
        int other = 0;
        while (list.segments().get(other).pa() != hit.getKey()) {
            other++;
        }
        return (hit.getKey() == s.pa() && hit.getValue() == s.end() ? "it repeats" : "it overlaps") + " segment "
                + other
                + " " + Hex.range(hit.getKey(), hit.getValue() - hit.getKey())
                + "; a device would reach the same bytes at two offsets";
    }

    /** Why some page of {@code s} is not held by the lender, naming what holds it, or null. */
    private static String notLent(PageAllocator allocator, Pages pages, ScatterList.Segment s) {
        long pa = s.pa();
        while (pa < s.end()) {
            PageAllocator.Holding h = allocator.holding(pa);
            if (h == null) {
                return "its page " + Hex.of(pa) + " is free (the page allocator may hand it to anyone)";
            }
            if (h.use() != PageUse.BUFFER) {
                return "its page " + Hex.of(pa) + " belongs to " + h + " (an IOMMU's translation tables)";
            }
            if (h.holder() != pages.holder) {
                return "its page " + Hex.of(pa) + " belongs to " + h + ", which was not lent (the lender is holder #"
                        + pages.holder + ")";
            }
            pa = h.end();
        }
        return null;
    }

    /** The allocator behind {@code d}'s read-only IOVA space: only the core allocates in it. */
    static IovaAllocator iovas(IommuDomain d) {
        return DomainIovas.allocator(d.iovaSpace());
    }

    // ---- the transaction ----

    /**
     * Maps a new buffer into its first domains: all or nothing. On failure every mapping made is
     * undone and every IOVA range reserved is released. The caller holds the buffer's monitor.
     */
    void mapInitial(SharedBuffer b, List<IommuDomain> domains) {
        List<SharedBuffer.Mapping> mappings = b.mappingsLocked();
        if (!b.identical()) {
            try {
                for (IommuDomain d : domains) {
                    IovaAllocator iovas = iovas(d);
                    long iova = iovas.allocate(b.length(), iovaAlignment(b.blocks(), d, b.alignment()));
                    mapOrRelease(b, d, iova);
                    mappings.add(new SharedBuffer.Mapping(d, iova));
                }
            } catch (RuntimeException e) {
                unwind(b, mappings);
                throw e;
            }
            return;
        }
        long iova = reserveIdentical(b, domains);
        b.identicalIova(iova);
        int mapped = 0;
        try {
            for (IommuDomain d : domains) {
                mapOrUnmap(b, d, iova);
                mappings.add(new SharedBuffer.Mapping(d, iova));
                mapped++;
            }
        } catch (RuntimeException e) {
            for (int i = mapped - 1; i >= 0; i--) {
                unmapOnly(b, domains.get(i), iova);
            }
            for (IommuDomain d : domains) {
                iovas(d).free(iova, b.length());
            }
            mappings.clear();
            throw e;
        }
    }

    /** Late sharing into one more domain; all or nothing. The caller holds the buffer's monitor. */
    long shareWith(SharedBuffer b, IommuDomain d) {
        checkDomain(d);
        SharedBuffer.Mapping existing = b.find(d);
        if (existing != null) {
            throw new InvalidArgumentException("buffer is already mapped into " + d + " at " + Hex.of(existing.iova()));
        }
        checkGranule(d, b.alignment());
        IovaAllocator iovas = iovas(d);
        long length = b.length();
        long iova;
        if (b.identical()) {
            iova = b.identicalIova();
            if (iova < iovas.start() || iova > iovas.end() - length) {
                throw new MappingConflictException("cannot share with " + d + " at the identical IOVA "
                        + Hex.range(iova, length) + ": that range is outside its IOVA space "
                        + Hex.range(iovas.start(), iovas.end() - iovas.start()) + "; identical-IOVA buffers need the"
                        + " same range free in every domain");
            }
            try {
                iovas.allocateAt(iova, length);
            } catch (MappingConflictException taken) {
                throw new MappingConflictException(
                        "cannot share with " + d + " at the identical IOVA "
                                + Hex.range(iova, length) + ": that range is taken there; identical-IOVA buffers"
                                + " need the same range free in every domain",
                        taken);
            }
        } else {
            iova = iovas.allocate(length, iovaAlignment(b.blocks(), d, b.alignment()));
        }
        mapOrRelease(b, d, iova);
        b.mappingsLocked().add(new SharedBuffer.Mapping(d, iova));
        return iova;
    }

    /**
     * Unmaps one mapping, flushes the domain's IOTLB and releases the IOVA range (into the
     * quarantine when it is on). A closed domain is skipped: its tables and IOTLB are gone.
     */
    void unmap(SharedBuffer b, SharedBuffer.Mapping m) {
        IommuDomain d = m.domain();
        if (d.isClosed()) {
            return;
        }
        IommuApi.unmap(d, m.iova(), b.length());
        quarantine.release(d, m.iova(), b.length());
    }

    /**
     * Undoes the mappings made so far, newest first, and forgets them. Their IOVA ranges go
     * straight back (never quarantined): no device was given them.
     */
    private static void unwind(SharedBuffer b, List<SharedBuffer.Mapping> mappings) {
        for (int i = mappings.size() - 1; i >= 0; i--) {
            SharedBuffer.Mapping m = mappings.get(i);
            unmapOnly(b, m.domain(), m.iova());
            iovas(m.domain()).free(m.iova(), b.length());
        }
        mappings.clear();
    }

    /** Maps every run at {@code iova} and syncs; on failure unmaps what it mapped and frees the IOVA range. */
    private static void mapOrRelease(SharedBuffer b, IommuDomain d, long iova) {
        try {
            mapOrUnmap(b, d, iova);
        } catch (RuntimeException e) {
            iovas(d).free(iova, b.length());
            throw e;
        }
    }

    /** Maps every run at {@code iova} and syncs; on failure unmaps what it mapped (the IOVA stays reserved). */
    private static void mapOrUnmap(SharedBuffer b, IommuDomain d, long iova) {
        long mapped = 0;
        try {
            for (ScatterList.Segment run : b.blocks().merged()) {
                IommuApi.mapNoSync(d, iova + mapped, run.pa(), run.length(), b.prot());
                mapped += run.length();
            }
            IommuApi.syncMap(d, iova, b.length()); // one sync for every run, as iommu_map_sg
        } catch (RuntimeException e) {
            if (mapped > 0) {
                IommuApi.unmap(d, iova, mapped);
            }
            throw e;
        }
    }

    private static void unmapOnly(SharedBuffer b, IommuDomain d, long iova) {
        IommuApi.unmap(d, iova, b.length());
    }

    /** Finds and reserves one IOVA range free in every domain (and in the declared future domains). */
    private long reserveIdentical(SharedBuffer b, List<IommuDomain> domains) {
        long length = b.length();
        long align = b.alignment();
        for (IommuDomain d : domains) {
            align = iovaAlignment(b.blocks(), d, align);
        }
        // The range must also be free in the declared future domains, or a later shareWith fails.
        List<IommuDomain> searched = new ArrayList<>(domains);
        for (IommuDomain f : b.identicalFuture()) {
            if (f.type() == DomainType.PAGING && !f.isClosed() && !searched.contains(f)) {
                searched.add(f);
            }
        }
        synchronized (identicalIovaLock) {
            for (int attempt = 0; attempt < MAX_IDENTICAL_ATTEMPTS; attempt++) {
                long candidate = findCommonFree(searched, length, align);
                if (candidate < 0) {
                    throw new IovaSpaceExhaustedException("no IOVA range of " + Hex.size(length) + " aligned to "
                            + Hex.size(align) + " is free in all of " + searched);
                }
                int reserved = 0;
                try {
                    for (IommuDomain d : domains) {
                        iovas(d).allocateAt(candidate, length);
                        reserved++;
                    }
                    return candidate;
                } catch (RuntimeException e) {
                    for (int i = 0; i < reserved; i++) {
                        iovas(domains.get(i)).free(candidate, length);
                    }
                    if (!(e instanceof MappingConflictException)) {
                        throw e;
                    }
                    // Another thread took part of the range between the search and the reservation: search again.
                }
            }
        }
        throw new IovaSpaceExhaustedException("could not reserve one IOVA range of " + Hex.size(length) + " in all of "
                + domains + " after " + MAX_IDENTICAL_ATTEMPTS + " attempts under contention");
    }

    /**
     * The highest IOVA at which {@code length} bytes aligned to {@code align} are free in every
     * domain, or -1. Each domain's top-down search answers the highest free range ending at or
     * below a limit; a domain answering lower than the candidate lowers the limit for all.
     */
    private static long findCommonFree(List<IommuDomain> domains, long length, long align) {
        long limit = Long.MAX_VALUE;
        for (IommuDomain d : domains) {
            limit = Math.min(limit, d.iovaSpace().end());
        }
        while (true) {
            long candidate = domains.get(0).iovaSpace().findFree(length, align, limit);
            if (candidate < 0) {
                return -1;
            }
            long lowest = candidate;
            for (IommuDomain d : domains) {
                long c = d.iovaSpace().findFree(length, align, candidate + length);
                if (c < 0) {
                    return -1;
                }
                lowest = Math.min(lowest, c);
            }
            if (lowest == candidate) {
                return candidate;
            }
            limit = lowest + length;
        }
    }
}
