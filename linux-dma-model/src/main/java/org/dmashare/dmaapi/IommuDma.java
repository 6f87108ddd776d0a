package org.dmashare.dmaapi;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.DmaDevice;
import org.dmashare.iommu.DomainType;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iova.internal.DomainIovas;
import org.dmashare.memory.PhysicalMemory;

/**
 * The modelled iommu-dma layer of one Linux kernel: its {@link Profile}, the CPU page size of the
 * memory (PAGE_SIZE), where buffer pages come from ({@link PageSource}), the atomic pool, and one
 * {@link LinuxIovaDomain} per IOMMU domain used for DMA. Devices join it with {@link #probe},
 * which models {@code iommu_setup_dma_ops} / {@code iommu_dma_init_domain}; the DMA API calls are
 * on the returned {@link LinuxDevice}.
 *
 * <p>Works with any backend: the IOVA granule is the lowest page size the domain advertises
 * (optionally restricted with {@link Builder#pageSizeMask}), nothing else is asked of the domain
 * beyond the {@link IommuDomain} interface. The model runs in strict invalidation mode: every
 * unmap flushes the domain's IOTLB before its IOVA is freed. Thread-safe.
 */
public final class IommuDma {
    /** Largest page-allocator order ({@code MAX_PAGE_ORDER}, inclusive): 4 MiB blocks with 4 KiB pages. */
    public static final int MAX_PAGE_ORDER = 10;
    /** Default atomic pool size: 256 KiB. */
    public static final long DEFAULT_ATOMIC_POOL = 256 * 1024;

    private final PhysicalMemory memory;
    private final Profile profile;
    private final PageSource pages;
    private final long pageSizeMask;
    private final boolean forceDac;
    private final AtomicPool pool;
    private final CmaArea cma;
    private final Map<IommuDomain, LinuxIovaDomain> cookies = new IdentityHashMap<>();
    private final List<String> warnings = new ArrayList<>();

    private IommuDma(Builder b) {
        this.memory = b.memory;
        this.profile = b.profile;
        this.pages = b.pages == null ? PageSource.buddy(b.memory) : b.pages;
        this.pageSizeMask = b.pageSizeMask;
        this.forceDac = b.forceDac;
        this.pool = new AtomicPool(this.pages, b.memory.pageSize(), b.atomicPoolSize);
        this.cma = b.cmaSize == 0 ? null : new CmaArea(b.memory, b.cmaBase, b.cmaSize);
    }

    /**
     * Starts configuring a model over {@code memory}: profile {@link Profile#UPSTREAM}, buddy page
     * source, every page size the domains advertise, {@code iommu.forcedac=0}, 256 KiB atomic pool.
     *
     * @param memory the modelled RAM; its page size is PAGE_SIZE
     * @return a builder
     */
    public static Builder builder(PhysicalMemory memory) {
        return new Builder(memory);
    }

    /**
     * Sets a device up for iommu-dma: the device must be attached to a paging domain of an IOMMU
     * over this model's memory. The first device of a domain initialises the domain's IOVA state
     * ({@code iommu_dma_init_domain}); later ones share it.
     *
     * @param device the bus master, attached to its DMA domain
     * @param params its Linux parameters
     * @return the Linux device
     * @throws DmaApiException {@link Errno#EINVAL} if the device has no paging domain, the domain's
     *     IOMMU uses another memory, or the granule exceeds PAGE_SIZE under {@link Profile#UPSTREAM}
     *     (upstream's {@code init_iova_domain} refuses it and the device gets no iommu-dma)
     */
    public LinuxDevice probe(DmaDevice device, DeviceParams params) {
        Objects.requireNonNull(device, "device");
        Objects.requireNonNull(params, "params");
        IommuDomain domain = device.domain()
                .orElseThrow(() -> new DmaApiException(
                        Errno.EINVAL,
                        "device " + params.name() + " (" + device
                                + ") is attached to no domain; attach it to its DMA domain first"));
        if (domain.type() != DomainType.PAGING) {
            throw new DmaApiException(
                    Errno.EINVAL,
                    "device " + params.name() + " is in a " + domain.type()
                            + " domain; iommu-dma needs a paging (DMA) domain (dma-direct is not modelled)");
        }
        if (domain.iommu().memory() != memory) {
            throw new DmaApiException(
                    Errno.EINVAL,
                    "device " + params.name() + " translates into another memory ("
                            + domain.iommu().memory() + ") than this model's " + memory);
        }
        long bitmap = pageSizeBitmap(domain);
        long granule = bitmap & -bitmap;
        if (granule != domain.granule()) {
            throw new DmaApiException(
                    Errno.EINVAL,
                    "page-size mask " + Hex.of(pageSizeMask) + " leaves "
                            + Hex.of(bitmap) + " of the domain's " + Hex.of(domain.pageSizes())
                            + "; it must keep the granule "
                            + Hex.size(domain.granule()));
        }
        if (granule > memory.pageSize() && !profile.allowsGranuleAbovePage()) {
            throw new DmaApiException(
                    Errno.EINVAL,
                    "device " + params.name() + ": IOVA granule "
                            + Hex.size(granule) + " exceeds PAGE_SIZE " + Hex.size(memory.pageSize()) + "; profile "
                            + profile
                            + " (init_iova_domain) accepts only granules up to PAGE_SIZE, so the device gets no iommu-dma "
                            + "(bypass if the IOMMU can, else no DMA)");
        }
        LinuxIovaDomain cookie;
        synchronized (cookies) {
            cookie = cookies.computeIfAbsent(domain, d -> new LinuxIovaDomain(DomainIovas.allocator(d.iovaSpace())));
        }
        return new LinuxDevice(this, device, domain, params, cookie);
    }

    /**
     * The profile modelled.
     *
     * @return the profile
     */
    public Profile profile() {
        return profile;
    }

    /**
     * The modelled RAM.
     *
     * @return the memory
     */
    public PhysicalMemory memory() {
        return memory;
    }

    /**
     * Warnings the kernel would print ({@code WARN_ON}), oldest first, for example an unmap that
     * removed a different amount than asked.
     *
     * @return an immutable snapshot
     */
    public List<String> warnings() {
        synchronized (warnings) {
            return List.copyOf(warnings);
        }
    }

    void warn(String message) {
        synchronized (warnings) {
            warnings.add(message);
        }
    }

    /** The domain's {@code pgsize_bitmap} as iommu-dma sees it. */
    long pageSizeBitmap(IommuDomain domain) {
        return domain.pageSizes() & pageSizeMask;
    }

    PageSource pages() {
        return pages;
    }

    AtomicPool pool() {
        return pool;
    }

    /** The global CMA area, or null when none was configured. */
    CmaArea cma() {
        return cma;
    }

    boolean forceDac() {
        return forceDac;
    }

    @Override
    public String toString() {
        return "IommuDma[" + profile + ", PAGE_SIZE " + Hex.size(memory.pageSize()) + ", " + pages + "]";
    }

    /** Configures an {@link IommuDma}. */
    public static final class Builder {
        private final PhysicalMemory memory;
        private Profile profile = Profile.UPSTREAM;
        private PageSource pages;
        private long pageSizeMask = -1L;
        private boolean forceDac;
        private long atomicPoolSize = DEFAULT_ATOMIC_POOL;
        private long cmaBase;
        private long cmaSize;

        private Builder(PhysicalMemory memory) {
            this.memory = Objects.requireNonNull(memory, "memory");
        }

        /**
         * Sets the kernel profile.
         *
         * @param p the profile
         * @return this builder
         */
        public Builder profile(Profile p) {
            this.profile = Objects.requireNonNull(p, "profile");
            return this;
        }

        /**
         * Sets where buffer pages come from (default: the memory's buddy allocator).
         *
         * @param source the page source
         * @return this builder
         */
        public Builder pageSource(PageSource source) {
            this.pages = Objects.requireNonNull(source, "source");
            return this;
        }

        /**
         * Restricts the page sizes iommu-dma sees of every domain ({@code pgsize_bitmap}) to those
         * in {@code mask}, as an IOMMU driver does that advertises fewer sizes than its tables
         * could map. Apple's DART driver advertises only its 16 KiB page; a 16 KiB LPAE domain
         * advertises 16K|32M, which changes the series' block sizes. The granule must be kept.
         *
         * @param mask bit n kept: 2^n-byte pages stay visible
         * @return this builder
         */
        public Builder pageSizeMask(long mask) {
            this.pageSizeMask = mask;
            return this;
        }

        /**
         * Sets {@code iommu.forcedac}: PCI devices skip the below-4-GiB first attempt.
         *
         * @param force the kernel parameter
         * @return this builder
         */
        public Builder forceDac(boolean force) {
            this.forceDac = force;
            return this;
        }

        /**
         * Sets the atomic pool size.
         *
         * @param bytes a power-of-two multiple of PAGE_SIZE
         * @return this builder
         * @throws InvalidArgumentException if not
         */
        public Builder atomicPoolSize(long bytes) {
            long pages = bytes / memory.pageSize();
            if (bytes <= 0
                    || bytes % memory.pageSize() != 0
                    || Long.bitCount(pages) != 1
                    || pages > (1L << MAX_PAGE_ORDER)) {
                throw new InvalidArgumentException("atomic pool size must be a power-of-two number of pages up to 2^"
                        + MAX_PAGE_ORDER + ", got " + Hex.of(bytes));
            }
            this.atomicPoolSize = bytes;
            return this;
        }

        /**
         * Reserves a global CMA area ({@code cma=} on the kernel command line) that blocking
         * contiguous allocations ({@link DmaAttr#FORCE_CONTIGUOUS}) of more than one page are
         * served from. Default: none, so those fall back to the page allocator.
         *
         * @param base first physical address, aligned to {@code size}
         * @param size a power of two, at least one page; claimed from the page allocator at build
         * @return this builder
         */
        public Builder cmaArea(long base, long size) {
            this.cmaBase = base;
            this.cmaSize = size;
            return this;
        }

        /**
         * Builds the model.
         *
         * @return the model
         * @throws InvalidArgumentException if the CMA area is misaligned
         * @throws org.dmashare.PhysicalMemoryExhaustedException if the CMA area is not free
         */
        public IommuDma build() {
            return new IommuDma(this);
        }
    }
}
