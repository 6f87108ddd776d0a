package org.dmashare.dmaapi;

import java.util.Arrays;
import java.util.EnumSet;
import java.util.Objects;
import java.util.Set;
import org.dmashare.DmaShareException;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.PhysicalMemoryExhaustedException;
import org.dmashare.iommu.DmaDevice;
import org.dmashare.iommu.IommuApi;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.Prot;
import org.dmashare.memory.PhysicalMemory;

/**
 * A device as Linux's DMA API sees it: a {@link DmaDevice} attached to its DMA domain, its
 * {@link DeviceParams}, and the iommu-dma ops of its {@link IommuDma}. Each method models one
 * DMA-API call; where the kernel returns NULL, {@code DMA_MAPPING_ERROR} or a negative errno, the
 * model throws {@link DmaApiException} carrying that errno, after undoing the call's own work as
 * the kernel does. Thread-safe as far as the kernel calls are (a scatterlist has one owner).
 */
public final class LinuxDevice {
    private final IommuDma dma;
    private final DmaDevice device;
    private final IommuDomain domain;
    private final DeviceParams params;
    private final LinuxIovaDomain iovad;
    private final long granule;
    private final int pageSize;

    LinuxDevice(IommuDma dma, DmaDevice device, IommuDomain domain, DeviceParams params, LinuxIovaDomain iovad) {
        this.dma = dma;
        this.device = device;
        this.domain = domain;
        this.params = params;
        this.iovad = iovad;
        this.granule = iovad.granule();
        this.pageSize = dma.memory().pageSize();
    }

    /**
     * The device's name.
     *
     * @return the name from its parameters
     */
    public String name() {
        return params.name();
    }

    /**
     * The bus master behind this device; its DMA goes through the domain's page tables.
     *
     * @return the hardware device
     */
    public DmaDevice dmaDevice() {
        return device;
    }

    /**
     * The DMA domain (the device's default domain).
     *
     * @return the domain
     */
    public IommuDomain domain() {
        return domain;
    }

    /**
     * The device's Linux parameters.
     *
     * @return the parameters
     */
    public DeviceParams params() {
        return params;
    }

    /**
     * The domain's IOVA state, shared by every device of the domain.
     *
     * @return the IOVA domain
     */
    public LinuxIovaDomain iovaDomain() {
        return iovad;
    }

    /**
     * The IOVA granule G.
     *
     * @return bytes
     */
    public long granule() {
        return granule;
    }

    /**
     * PAGE_SIZE.
     *
     * @return bytes
     */
    public int pageSize() {
        return pageSize;
    }

    PhysicalMemory memory() {
        return dma.memory();
    }

    private boolean series() {
        return dma.profile().allowsGranuleAbovePage();
    }

    private long off(long x) {
        return x & (granule - 1);
    }

    private long up(long x) {
        return (x + granule - 1) & -granule;
    }

    private long pageAlign(long x) {
        return (x + pageSize - 1) & -(long) pageSize;
    }

    /** Linux {@code get_order}: smallest order whose block holds {@code size} bytes. */
    private int getOrder(long size) {
        long pages = (size + pageSize - 1) / pageSize;
        return LinuxIovaDomain.orderBase2(Math.max(1, pages));
    }

    // =====================================================================================
    // IOVA
    // =====================================================================================

    /** {@code iommu_dma_alloc_iova}: {@code size} is a multiple of G; returns the IOVA or 0. */
    private long allocIova(long size, long dmaLimit) {
        int shift = iovad.shift();
        long len = size >>> shift;
        long limit = dmaLimit;
        if (params.busDmaLimit() != 0 && Long.compareUnsigned(params.busDmaLimit(), limit) < 0) {
            limit = params.busDmaLimit();
        }
        long apertureLast = domain.apertureEnd() - 1;
        if (Long.compareUnsigned(apertureLast, limit) < 0) {
            limit = apertureLast;
        }
        long pfn = 0;
        if (Long.compareUnsigned(limit, DeviceParams.MASK_32) > 0 && !dma.forceDac() && params.pci()) {
            pfn = iovad.allocIovaFast(len, DeviceParams.MASK_32 >>> shift, false);
        }
        if (pfn == 0) {
            pfn = iovad.allocIovaFast(len, limit >>> shift, true);
        }
        return pfn << shift;
    }

    private void freeIova(long iova, long size) {
        iovad.freeIovaFast(iova >>> iovad.shift(), size >>> iovad.shift());
    }

    /** {@code __iommu_dma_unmap}: unmaps and frees up(size + off) bytes from down(handle). */
    private void iommuDmaUnmap(long handle, long size) {
        long o = off(handle);
        long start = handle - o;
        long len = up(size + o);
        long unmapped;
        try {
            unmapped = IommuApi.unmap(domain, start, len); // iommu_unmap: unmap, then iotlb_sync
        } catch (DmaShareException e) {
            // Refused whole: nothing was unmapped, so the gather is empty and nothing is synced.
            dma.warn(name() + ": unmap of " + Hex.range(start, len) + " refused by the IOMMU: " + e.getMessage());
            unmapped = 0;
        }
        if (unmapped != len) {
            dma.warn(name() + ": unmap of " + Hex.range(start, len) + " removed " + Hex.of(unmapped) + " bytes");
        }
        freeIova(start, len);
    }

    /** {@code __iommu_dma_map}: maps the granules around [phys, phys+size); returns IOVA + off or -1. */
    private long iommuDmaMap(long phys, long size, Prot prot, long dmaMask) {
        long o = off(phys);
        long len = up(size + o);
        long iova = allocIova(len, dmaMask);
        if (iova == 0) {
            return -1;
        }
        try {
            IommuApi.map(domain, iova, phys - o, len, prot); // iommu_map: map, then iotlb_sync_map
        } catch (DmaShareException e) {
            freeIova(iova, len);
            return -1;
        }
        return iova + o;
    }

    /**
     * {@code iommu_map_sg}: maps the first {@code nents} entries back to back from {@code iova},
     * merging physically adjacent ones; unmaps what it mapped and rethrows on failure.
     */
    private long iommuMapSg(long iova, SgTable sgt, int nents, Prot prot) {
        long mapped = 0;
        long start = 0;
        long len = 0;
        try {
            for (int i = 0; i <= nents; i++) {
                if (len != 0 && (i == nents || sgt.phys(i) != start + len)) {
                    IommuApi.mapNoSync(domain, iova + mapped, start, len, prot);
                    mapped += len;
                    len = 0;
                }
                if (i == nents) {
                    break;
                }
                if (len != 0) {
                    len += sgt.length(i);
                } else {
                    len = sgt.length(i);
                    start = sgt.phys(i);
                }
            }
        } catch (DmaShareException e) {
            if (mapped > 0) {
                IommuApi.unmap(domain, iova, mapped); // iommu_unmap of what was mapped
            }
            throw e;
        }
        IommuApi.syncMap(domain, iova, mapped); // iommu_map_sg: one iotlb_sync_map for the whole list
        return mapped;
    }

    // =====================================================================================
    // dma_alloc_coherent / dma_free_coherent
    // =====================================================================================

    /**
     * {@code dma_alloc_coherent(dev, size, &handle, gfp)} with no attributes.
     *
     * @param size bytes, positive
     * @param gfp the allocation context
     * @return the buffer, zeroed, mapped for this device
     * @throws DmaApiException {@link Errno#ENOMEM} where Linux returns NULL
     */
    public CoherentBuffer allocCoherent(long size, Gfp gfp) {
        return allocCoherent(size, gfp, EnumSet.noneOf(DmaAttr.class));
    }

    /**
     * {@code dma_alloc_attrs}: allocates a zeroed buffer and maps it for this device. Blocking
     * without {@link DmaAttr#FORCE_CONTIGUOUS} takes the remap path (pages gathered into an
     * array and mapped as one IOVA range); otherwise a non-coherent device without blocking uses
     * the atomic pool; otherwise a blocking request of more than one page tries the CMA area (if
     * one is configured: exactly PAGE_ALIGN(size) pages), and anything else takes one
     * page-allocator block of order get_order(size). The contiguous paths map
     * the granules around the block and return IOVA + the block's granule offset.
     *
     * @param size bytes, positive
     * @param gfp the allocation context
     * @param attrs DMA attributes
     * @return the buffer
     * @throws DmaApiException {@link Errno#ENOMEM} where Linux returns NULL (no pages, no IOVA, a
     *     map that failed); nothing is left allocated
     */
    public CoherentBuffer allocCoherent(long size, Gfp gfp, Set<DmaAttr> attrs) {
        Objects.requireNonNull(gfp, "gfp");
        Objects.requireNonNull(attrs, "attrs");
        if (size <= 0) {
            throw new DmaApiException(
                    Errno.ENOMEM,
                    name() + ": dma_alloc_coherent of " + Hex.of(size)
                            + " bytes returns NULL; the size must be positive");
        }
        if (gfp.allowsBlocking() && !attrs.contains(DmaAttr.FORCE_CONTIGUOUS)) {
            return allocRemap(size, attrs);
        }
        Prot prot = DataDirection.BIDIRECTIONAL.prot(params.coherent());
        long alloc = pageAlign(size);
        CoherentBuffer.Path path;
        long pa;
        long owned;
        if (!gfp.allowsBlocking() && !params.coherent()) {
            path = CoherentBuffer.Path.ATOMIC_POOL;
            pa = dma.pool().allocate(alloc / pageSize);
            owned = alloc;
            if (pa == PageSource.NO_PAGE) {
                throw new DmaApiException(
                        Errno.ENOMEM,
                        name() + ": atomic pool has no " + Hex.size(alloc) + " order-aligned free run (" + dma.pool()
                                + ")");
            }
        } else {
            int order = getOrder(alloc);
            CmaArea cma = dma.cma();
            pa = PageSource.NO_PAGE;
            if (cma != null && gfp.allowsBlocking() && alloc > pageSize) {
                pa = cma.allocate(alloc / pageSize, order);
            }
            if (pa != PageSource.NO_PAGE) {
                path = CoherentBuffer.Path.CMA;
                owned = alloc;
            } else {
                path = CoherentBuffer.Path.CONTIGUOUS_PAGES;
                pa = order > IommuDma.MAX_PAGE_ORDER
                        ? PageSource.NO_PAGE
                        : dma.pages().allocate(order, false);
                owned = (long) pageSize << order;
            }
            if (pa == PageSource.NO_PAGE) {
                throw new DmaApiException(
                        Errno.ENOMEM,
                        name() + ": no free block of order " + order + " (" + Hex.size(owned) + ") for a contiguous "
                                + Hex.size(size) + " coherent buffer");
            }
        }
        memory().fill(pa, alloc, (byte) 0);
        long handle = iommuDmaMap(pa, size, prot, params.coherentDmaMask());
        if (handle < 0) {
            freeContiguous(path, pa, owned);
            throw new DmaApiException(
                    Errno.ENOMEM,
                    name() + ": could not map the contiguous buffer " + Hex.range(pa, alloc) + " (no IOVA below "
                            + Hex.of(params.coherentDmaMask()) + " or map refused)");
        }
        return new CoherentBuffer(this, path, size, handle, null, pa, owned);
    }

    private void freeContiguous(CoherentBuffer.Path path, long pa, long owned) {
        if (path == CoherentBuffer.Path.ATOMIC_POOL) {
            dma.pool().free(pa, owned / pageSize);
        } else if (path == CoherentBuffer.Path.CMA) {
            dma.cma().release(pa, owned / pageSize);
        } else {
            dma.pages().free(pa, Long.numberOfTrailingZeros(owned / pageSize));
        }
    }

    /** {@code iommu_dma_alloc_remap} / {@code __iommu_dma_alloc_noncontiguous}. */
    private CoherentBuffer allocRemap(long size, Set<DmaAttr> attrs) {
        long requested = size;
        long allocSizes = dma.pageSizeBitmap(domain);
        long minSize = allocSizes & -allocSizes;
        boolean large = series() && granule > pageSize;
        if (large) {
            if (size < granule) {
                minSize = alignUp(size, (long) pageSize << getOrder(size));
                allocSizes = minSize;
            }
            size = pageAlign(size);
        } else if (minSize < pageSize) {
            minSize = pageSize;
            allocSizes |= pageSize;
        } else {
            size = alignUp(size, minSize);
        }
        if (attrs.contains(DmaAttr.ALLOC_SINGLE_PAGES)) {
            allocSizes = minSize;
        }
        int count = (int) (pageAlign(size) / pageSize);
        long[] pages = allocPages(count, allocSizes / pageSize);
        if (pages == null) {
            throw new DmaApiException(
                    Errno.ENOMEM,
                    name() + ": could not gather " + count + " pages for a " + Hex.size(requested)
                            + " coherent buffer from blocks " + Hex.of(allocSizes));
        }
        long iovaSize = up(size);
        long iova = allocIova(iovaSize, params.coherentDmaMask());
        if (iova == 0) {
            freePages(pages);
            throw new DmaApiException(
                    Errno.ENOMEM,
                    name() + ": no free IOVA range of " + Hex.size(iovaSize) + " below "
                            + Hex.of(params.coherentDmaMask()));
        }
        long sgtSize = large ? (long) count * pageSize : size;
        SgTable sgt = SgTable.fromPages(pages, 0, Math.min(sgtSize, (long) count * pageSize), pageSize);
        long s0Phys = sgt.phys(0);
        long s0Off = off(s0Phys);
        if (large) {
            if (size < granule) {
                // map the granule around the single block, then restore the entry
                sgt.setPage(0, (s0Phys - s0Off) & -(long) pageSize, up(sgt.length(0) + s0Off), sgt.offset(0) & ~s0Off);
            } else {
                // widen the last entry to a whole granule so the map covers iovaSize
                int last = sgt.origNents() - 1;
                sgt.setLength(last, up(sgt.length(last)));
            }
        }
        Prot prot = DataDirection.BIDIRECTIONAL.prot(params.coherent());
        long mapped;
        try {
            mapped = iommuMapSg(iova, sgt, sgt.origNents(), prot);
        } catch (DmaShareException e) {
            freeIova(iova, iovaSize);
            freePages(pages);
            throw new DmaApiException(
                    Errno.ENOMEM,
                    name() + ": mapping the " + Hex.size(requested) + " coherent buffer at " + Hex.of(iova)
                            + " failed: " + e.getMessage(),
                    e);
        }
        if (mapped < iovaSize) {
            IommuApi.unmap(domain, iova, mapped);
            freeIova(iova, iovaSize);
            freePages(pages);
            throw new DmaApiException(
                    Errno.ENOMEM,
                    name() + ": the coherent buffer's pages mapped only " + Hex.of(mapped) + " of the "
                            + Hex.of(iovaSize) + " IOVA bytes; allocation undone");
        }
        long handle = large && size < granule ? iova + s0Off : iova;
        return new CoherentBuffer(this, CoherentBuffer.Path.REMAP, requested, handle, pages, -1, 0);
    }

    private static long alignUp(long x, long a) {
        return (x + a - 1) / a * a;
    }

    /**
     * {@code __iommu_dma_alloc_pages}: {@code count} pages from blocks whose orders are the set bits
     * of {@code orderMask}, largest first; all blocks are split into pages. Under the series, a
     * tail smaller than the (highest) allowed block takes a whole block and frees the spillover.
     */
    private long[] allocPages(int count, long orderMask) {
        int minOrder = 63 - Long.numberOfLeadingZeros(orderMask);
        long minOrderSize = minOrder < 0 ? 0 : 1L << minOrder;
        orderMask &= (2L << IommuDma.MAX_PAGE_ORDER) - 1;
        if (orderMask == 0) {
            return null;
        }
        long[] out = new long[count];
        int i = 0;
        PageSource src = dma.pages();
        while (count > 0) {
            long page = PageSource.NO_PAGE;
            long orderSize = 0;
            orderMask &= (2L << (31 - Integer.numberOfLeadingZeros(count))) - 1;
            while (orderMask != 0) {
                int order = 63 - Long.numberOfLeadingZeros(orderMask);
                orderSize = 1L << order;
                page = src.allocate(order, orderMask > orderSize);
                if (page != PageSource.NO_PAGE) {
                    memory().fill(page, (long) pageSize << order, (byte) 0);
                    if (order > 0) {
                        src.split(page, order);
                    }
                    break;
                }
                orderMask &= ~orderSize;
            }
            if (series() && page == PageSource.NO_PAGE && orderMask == 0 && count < minOrderSize) {
                page = minOrder > IommuDma.MAX_PAGE_ORDER ? PageSource.NO_PAGE : src.allocate(minOrder, false);
                if (page != PageSource.NO_PAGE) {
                    memory().fill(page, (long) pageSize << minOrder, (byte) 0);
                    src.split(page, minOrder);
                    for (long j = count; j < minOrderSize; j++) {
                        src.free(page + j * pageSize, 0);
                    }
                    orderSize = count;
                }
            }
            if (page == PageSource.NO_PAGE) {
                for (int k = i - 1; k >= 0; k--) {
                    src.free(out[k], 0);
                }
                return null;
            }
            count -= (int) orderSize;
            for (long k = 0; k < orderSize; k++) {
                out[i++] = page + k * pageSize;
            }
        }
        return out;
    }

    private void freePages(long[] pages) {
        for (int k = pages.length - 1; k >= 0; k--) {
            dma.pages().free(pages[k], 0);
        }
    }

    /**
     * {@code dma_free_coherent}: unmaps up(size + off(handle)) bytes from down(handle), flushes
     * the IOTLB, frees the IOVA, then frees the pages (a remap buffer's PAGE_ALIGN(size)/P pages;
     * spillover pages were freed at allocation). Freeing twice is refused.
     *
     * @param buffer a buffer this device allocated
     * @throws InvalidArgumentException if the buffer belongs to another device or was freed
     */
    public void freeCoherent(CoherentBuffer buffer) {
        Objects.requireNonNull(buffer, "buffer");
        if (buffer.device() != this) {
            throw new InvalidArgumentException(
                    "buffer " + buffer + " belongs to " + buffer.device().name() + ", not " + name());
        }
        if (!buffer.markFreed()) {
            throw new InvalidArgumentException("buffer " + buffer + " was already freed");
        }
        iommuDmaUnmap(buffer.dmaHandle(), buffer.size());
        if (buffer.hasPageArray()) {
            freePages(buffer.pageArray());
        } else {
            freeContiguous(buffer.path(), buffer.contiguousPa(), buffer.ownedBytes());
        }
    }

    // =====================================================================================
    // dma_get_sgtable
    // =====================================================================================

    /**
     * {@code dma_get_sgtable(dev, sgt, cpu_addr, handle, size)}: describes a coherent buffer as a
     * scatter-gather table. A remap buffer gives one entry per run of physically consecutive pages
     * of its first PAGE_ALIGN(size)/P pages, lengths adding up to {@code size}; a contiguous one a
     * single entry of PAGE_ALIGN(size) bytes. No DMA fields are set.
     *
     * @param buffer the buffer ({@code cpu_addr} and {@code handle})
     * @param size the size the caller passes; normally the allocation size
     * @return the table
     * @throws DmaApiException {@link Errno#ENXIO} under {@link Profile#ASAHI_GRANULE} when the
     *     granule exceeds PAGE_SIZE (the op pretends to be unimplemented)
     * @throws InvalidArgumentException if the size is not positive or exceeds the buffer
     */
    public SgTable getSgtable(CoherentBuffer buffer, long size) {
        Objects.requireNonNull(buffer, "buffer");
        if (dma.profile().guardsGetSgtable() && granule > pageSize) {
            throw new DmaApiException(
                    Errno.ENXIO,
                    name() + ": dma_get_sgtable refused: IOVA granule " + Hex.size(granule) + " exceeds PAGE_SIZE "
                            + Hex.size(pageSize) + " (profile " + dma.profile() + ")");
        }
        if (size <= 0 || size > buffer.size()) {
            throw new InvalidArgumentException("dma_get_sgtable of " + Hex.of(size) + " bytes of a "
                    + Hex.size(buffer.size()) + " buffer: the size must be positive and within the buffer");
        }
        if (buffer.hasPageArray()) {
            long[] all = buffer.pageArray();
            long[] used = Arrays.copyOf(all, (int) (pageAlign(size) / pageSize));
            return SgTable.fromPages(used, 0, size, pageSize);
        }
        return SgTable.single(buffer.contiguousPa() & -(long) pageSize, pageAlign(size), pageSize);
    }

    /**
     * {@code dma_get_sgtable} with the buffer's own size.
     *
     * @param buffer the buffer
     * @return the table
     * @throws DmaApiException {@link Errno#ENXIO} as {@link #getSgtable(CoherentBuffer, long)}
     */
    public SgTable getSgtable(CoherentBuffer buffer) {
        return getSgtable(buffer, Objects.requireNonNull(buffer, "buffer").size());
    }

    // =====================================================================================
    // dma_map_sg / dma_unmap_sg
    // =====================================================================================

    /**
     * {@code dma_map_sgtable(dev, sgt, dir, 0)}: maps every entry and stores the number of DMA
     * segments in {@link SgTable#nents()}.
     *
     * @param sgt the table
     * @param dir the direction
     * @throws DmaApiException as {@link #mapSg}; the table is left unmapped and restored
     */
    public void mapSgtable(SgTable sgt, DataDirection dir) {
        Objects.requireNonNull(sgt, "sgt");
        int n = mapSg(sgt, sgt.origNents(), dir);
        sgt.setNents(n);
    }

    /**
     * {@code dma_map_sg}: maps the first {@code nents} entries into one IOVA range. Each entry is
     * widened to the granules around it (its granule offset: the physical address mod G under the
     * series, the in-page offset mod G upstream); entries that would straddle a segment boundary
     * get padding added to the previous one; the total is allocated at once (streaming mask) and
     * mapped back to back. Then {@code __finalise_sg} restores the entries and merges them into DMA
     * segments: an entry joins the open segment iff the segment is open, the entry starts on a
     * granule, the cursor is not on a segment boundary and the result fits the maximum segment
     * size; a segment whose data does not reach its granule end closes.
     *
     * @param sgt the table
     * @param nents how many entries to map, 1 .. origNents
     * @param dir the direction
     * @return the number of DMA segments
     * @throws DmaApiException {@link Errno#ENOMEM} if no IOVA range (or page-table page) could be
     *     had, {@link Errno#EINVAL} if the IOMMU refused the map; the entries are restored with
     *     their DMA fields reset ({@code __invalidate_sg}) and nothing stays mapped
     * @throws InvalidArgumentException if {@code nents} is out of range
     */
    public int mapSg(SgTable sgt, int nents, DataDirection dir) {
        Objects.requireNonNull(sgt, "sgt");
        Objects.requireNonNull(dir, "dir");
        if (nents < 1 || nents > sgt.origNents()) {
            throw new InvalidArgumentException(
                    "dma_map_sg of " + nents + " entries of a table with " + sgt.origNents());
        }
        if (sgt.pageSize() != pageSize) {
            throw new InvalidArgumentException(
                    "table counts pages of " + Hex.size(sgt.pageSize()) + " but PAGE_SIZE is " + Hex.size(pageSize));
        }
        long mask = params.segmentBoundaryMask();
        long iovaLen = 0;
        int prev = -1;
        for (int i = 0; i < nents; i++) {
            long sPhys = sgt.phys(i);
            long sOff = series() ? off(sPhys) : off(sgt.offset(i));
            long sLen = sgt.length(i);
            long pad = (mask - iovaLen + 1) & mask;
            sgt.setDma(i, sOff, sLen);
            long aligned = up(sLen + sOff);
            if (series()) {
                sgt.setPage(i, (sPhys - sOff) & -(long) pageSize, aligned, sgt.offset(i) & ~sOff);
            } else {
                sgt.setOffset(i, sgt.offset(i) - sOff);
                sgt.setLength(i, aligned);
            }
            if (pad != 0 && Long.compareUnsigned(pad, aligned - 1) < 0) {
                sgt.setLength(prev, sgt.length(prev) + pad);
                iovaLen += pad;
            }
            iovaLen += aligned;
            prev = i;
        }
        long iova = allocIova(iovaLen, params.dmaMask());
        if (iova == 0) {
            invalidateSg(sgt, nents);
            throw new DmaApiException(
                    Errno.ENOMEM,
                    name() + ": dma_map_sg found no free IOVA range of " + Hex.size(iovaLen) + " below "
                            + Hex.of(params.dmaMask()));
        }
        try {
            long mapped = iommuMapSg(iova, sgt, nents, dir.prot(params.coherent()));
            if (mapped < iovaLen) {
                IommuApi.unmap(domain, iova, mapped);
                throw new InvalidArgumentException("mapped " + Hex.of(mapped) + " of " + Hex.of(iovaLen) + " bytes");
            }
        } catch (DmaShareException e) {
            freeIova(iova, iovaLen);
            invalidateSg(sgt, nents);
            Errno errno = e instanceof PhysicalMemoryExhaustedException ? Errno.ENOMEM : Errno.EINVAL;
            throw new DmaApiException(
                    errno,
                    name() + ": dma_map_sg could not map " + Hex.size(iovaLen) + " at IOVA " + Hex.of(iova) + ": "
                            + e.getMessage(),
                    e);
        }
        return finaliseSg(sgt, nents, iova);
    }

    /** {@code __finalise_sg}. */
    private int finaliseSg(SgTable sgt, int nents, long dmaAddr) {
        long segMask = params.segmentBoundaryMask();
        long maxLen = params.maxSegmentSize();
        int cur = 0;
        long curLen = 0;
        int count = 0;
        for (int i = 0; i < nents; i++) {
            long sOff = sgt.dmaAddress(i);
            long sLength = sgt.dmaLength(i);
            long sIovaLen = sgt.length(i);
            sgt.setDma(i, SgTable.DMA_MAPPING_ERROR, 0);
            restore(sgt, i, sOff, sLength);
            // max_len - cur_len is unsigned int arithmetic in the kernel
            if (curLen != 0 && sOff == 0 && (dmaAddr & segMask) != 0 && ((maxLen - curLen) & 0xFFFF_FFFFL) >= sLength) {
                curLen += sLength;
            } else {
                if (i > 0) {
                    cur++;
                }
                curLen = sLength;
                count++;
                sgt.setDma(cur, dmaAddr + sOff, sgt.dmaLength(cur));
            }
            sgt.setDma(cur, sgt.dmaAddress(cur), curLen);
            dmaAddr += sIovaLen;
            if (sLength + sOff < sIovaLen) {
                curLen = 0;
            }
        }
        return count;
    }

    /** Puts an entry's CPU fields back from its stashed granule offset and length. */
    private void restore(SgTable sgt, int i, long sOff, long sLength) {
        if (series()) {
            long orig = sgt.phys(i) + sOff;
            sgt.setPage(i, orig & -(long) pageSize, sLength, sOff & (pageSize - 1));
        } else {
            sgt.setOffset(i, sgt.offset(i) + sOff);
            sgt.setLength(i, sLength);
        }
    }

    /** {@code __invalidate_sg}. */
    private void invalidateSg(SgTable sgt, int nents) {
        for (int i = 0; i < nents; i++) {
            if (series()) {
                if (sgt.dmaLength(i) != 0) {
                    restore(sgt, i, sgt.dmaAddress(i), sgt.dmaLength(i));
                }
            } else {
                if (sgt.dmaAddress(i) != SgTable.DMA_MAPPING_ERROR) {
                    sgt.setOffset(i, sgt.offset(i) + sgt.dmaAddress(i));
                }
                if (sgt.dmaLength(i) != 0) {
                    sgt.setLength(i, sgt.dmaLength(i));
                }
            }
            sgt.setDma(i, SgTable.DMA_MAPPING_ERROR, 0);
        }
    }

    /**
     * {@code dma_unmap_sgtable}: unmaps what {@link #mapSgtable} mapped.
     *
     * @param sgt the mapped table
     * @param dir the direction it was mapped with
     */
    public void unmapSgtable(SgTable sgt, DataDirection dir) {
        unmapSg(sgt, Objects.requireNonNull(sgt, "sgt").origNents(), dir);
    }

    /**
     * {@code dma_unmap_sg}: from the first DMA segment's address to the end of the last segment
     * with a non-zero length, unmaps up(end - start + off(start)) bytes from down(start), flushes
     * the IOTLB and frees that IOVA length. DMA fields are left as they are, as in Linux.
     *
     * @param sgt the mapped table
     * @param nents the count passed to map_sg (not the count it returned)
     * @param dir the direction it was mapped with
     */
    public void unmapSg(SgTable sgt, int nents, DataDirection dir) {
        Objects.requireNonNull(sgt, "sgt");
        Objects.requireNonNull(dir, "dir");
        long start = 0;
        long end = 0;
        for (int i = 0; i < Math.min(nents, sgt.origNents()); i++) {
            if (sgt.dmaLength(i) == 0) {
                break;
            }
            if (i == 0) {
                start = sgt.dmaAddress(i);
            }
            end = sgt.dmaAddress(i) + sgt.dmaLength(i);
        }
        if (end != 0) {
            iommuDmaUnmap(start, end - start);
        }
    }

    // =====================================================================================
    // dma_map_single / dma_unmap_single
    // =====================================================================================

    /**
     * {@code dma_map_single} / {@code dma_map_page}: maps the granules around
     * {@code [phys, phys + size)} at a fresh IOVA (streaming mask).
     *
     * @param phys physical address of the data
     * @param size bytes, positive
     * @param dir the direction
     * @return the device address of {@code phys}: IOVA + off(phys)
     * @throws DmaApiException {@link Errno#ENOMEM} where Linux returns {@code DMA_MAPPING_ERROR}
     */
    public long mapSingle(long phys, long size, DataDirection dir) {
        Objects.requireNonNull(dir, "dir");
        if (size <= 0) {
            throw new DmaApiException(Errno.ENOMEM, name() + ": dma_map_single of " + Hex.of(size) + " bytes");
        }
        long handle = iommuDmaMap(phys, size, dir.prot(params.coherent()), params.dmaMask());
        if (handle < 0) {
            throw new DmaApiException(
                    Errno.ENOMEM,
                    name() + ": dma_map_single of " + Hex.range(phys, size)
                            + " returned DMA_MAPPING_ERROR (no IOVA or map refused)");
        }
        return handle;
    }

    /**
     * {@code dma_unmap_single}: unmaps and frees up(size + off(handle)) bytes from down(handle).
     *
     * @param handle what {@link #mapSingle} returned
     * @param size the size it was given
     * @param dir the direction
     */
    public void unmapSingle(long handle, long size, DataDirection dir) {
        Objects.requireNonNull(dir, "dir");
        iommuDmaUnmap(handle, size);
    }

    @Override
    public String toString() {
        return "LinuxDevice[" + name() + ", " + device + ", granule " + Hex.size(granule) + ", PAGE_SIZE "
                + Hex.size(pageSize) + ", " + dma.profile() + "]";
    }
}
