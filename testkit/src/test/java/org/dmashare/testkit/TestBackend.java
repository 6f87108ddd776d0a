package org.dmashare.testkit;

import java.util.EnumSet;
import java.util.Set;
import org.dmashare.MappingConflictException;
import org.dmashare.iommu.DomainType;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuBackend;
import org.dmashare.iommu.IommuFault;
import org.dmashare.iommu.Prot;
import org.dmashare.iommu.support.AbstractIommu;
import org.dmashare.iommu.support.BaseDomain;
import org.dmashare.iommu.support.PagingDomain;
import org.dmashare.memory.FailureInjector;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.pgtable.PageTableWalker;
import org.dmashare.pgtable.PteFormat;
import org.dmashare.pgtable.PteKind;

/**
 * A small two-level backend for the kit's own tests (the real backends depend on the kit, not the
 * other way round), with switchable bugs so that each check can be shown to catch the bug it is
 * about.
 */
final class TestBackend {
    private TestBackend() {}

    /** Deliberate contract violations. */
    enum Bug {
        /** unmap invalidates the IOTLB itself: no stale-until-flush window. */
        FLUSH_ON_UNMAP,
        /** iovaToPhys answers one granule off. */
        IOVA_TO_PHYS_OFF_BY_A_GRANULE,
        /** map ignores read-only and grants write. */
        IGNORES_READ_ONLY,
        /** close keeps the table pages. */
        LEAKS_TABLES_ON_CLOSE,
        /** map skips the aperture check (the aperture is half the input range). */
        NO_APERTURE_CHECK,
        /** map overwrites existing entries instead of refusing. */
        OVERWRITES_ON_CONFLICT,
        /** the walk of stream 1 uses stream 0's table. */
        STREAMS_SHARE_ONE_TABLE,
        /** map installs granule by granule and keeps what it installed when a later step fails. */
        MAP_NOT_ATOMIC,
        /** unmap reports one granule more than it removed. */
        UNMAP_MISCOUNTS,
        /** every leaf restricts device access to its first half, without sub-page protection. */
        HALF_PAGE_WINDOWS,
        /** map swallows an injected MAP failure and maps anyway. */
        IGNORES_INJECTED_MAP_FAILURE,
        /**
         * the format also has a 16-entry replicated block, whose entries carry a stray PA bit 30
         * (only a check of every declared page size sees it).
         */
        LARGE_BLOCK_STRAY_ADDRESS_BIT
    }

    /** Two levels: a root of blocks or table pointers, then pages. */
    static final class Format implements PteFormat {
        private final int shift;
        private final boolean halfWindows;
        private final boolean largeBlock;

        Format(int granuleShift, boolean halfWindows) {
            this(granuleShift, halfWindows, false);
        }

        Format(int granuleShift, boolean halfWindows, boolean largeBlock) {
            this.shift = granuleShift;
            this.halfWindows = halfWindows;
            this.largeBlock = largeBlock;
        }

        private long block() {
            return 1L << (shift + shift - 3);
        }

        @Override
        public long leafSizes(int level) {
            return level == 1 ? 1L << shift : block() | (largeBlock ? 16 * block() : 0);
        }

        @Override
        public long encodeLeaf(long pa, long size, Prot prot, int level) {
            if (size == 16 * block()) {
                return encodeLeaf(pa | (1L << 30), prot, level) | (1 << 4); // the bug: a stray bit 30
            }
            return encodeLeaf(pa, prot, level);
        }

        @Override
        public long leafSize(long pte, int level) {
            return level == 0 && (pte & (1 << 4)) != 0 ? 16 * block() : 1L << shift(level);
        }

        @Override
        public int granuleShift() {
            return shift;
        }

        @Override
        public int bitsPerLevel() {
            return shift - 3;
        }

        @Override
        public int levels() {
            return 2;
        }

        @Override
        public int inputBits() {
            return shift + (shift - 3) + 9;
        }

        @Override
        public int outputBits() {
            return 40;
        }

        @Override
        public long pageSizes() {
            return (1L << shift) | block() | (largeBlock ? 16 * block() : 0);
        }

        @Override
        public long encodeTable(long tablePa, int level) {
            return tablePa | 0b11;
        }

        @Override
        public long encodeLeaf(long pa, Prot prot, int level) {
            return pa | 0b01 | (level == 1 ? 0b10 : 0) | (prot.read() ? 1 << 2 : 0) | (prot.write() ? 1 << 3 : 0);
        }

        @Override
        public PteKind kind(long pte, int level) {
            if ((pte & 1) == 0) {
                return PteKind.INVALID;
            }
            return level == 0 && (pte & 0b10) != 0 ? PteKind.TABLE : PteKind.LEAF;
        }

        @Override
        public long address(long pte, int level) {
            return pte & ((1L << 40) - 1) & -(1L << shift);
        }

        @Override
        public Prot prot(long pte, int level) {
            return new Prot((pte & 4) != 0, (pte & 8) != 0, false, false);
        }

        @Override
        public long windowEnd(long pte, int level) {
            return halfWindows ? 1L << (shift(level) - 1) : 1L << shift(level);
        }
    }

    static Iommu create(PhysicalMemory memory, int streams, int granuleShift, Set<Bug> bugs) {
        Format f = new Format(
                granuleShift, bugs.contains(Bug.HALF_PAGE_WINDOWS), bugs.contains(Bug.LARGE_BLOCK_STRAY_ADDRESS_BIT));
        IommuBackend.Variant v = new IommuBackend.Variant(
                "test-" + (1 << (granuleShift - 10)) + "k", 1L << granuleShift, f.pageSizes(), "test");
        return new Unit(v, memory, streams, f, bugs.isEmpty() ? EnumSet.noneOf(Bug.class) : EnumSet.copyOf(bugs));
    }

    private static final class Unit extends AbstractIommu {
        private final Format format;
        private final Set<Bug> bugs;
        private final long[] root;

        Unit(IommuBackend.Variant v, PhysicalMemory memory, int streams, Format format, Set<Bug> bugs) {
            // With NO_APERTURE_CHECK the aperture is half the format's range; the unit reports the
            // aperture's width, so that only the missing check is wrong.
            super(
                    "test",
                    v,
                    "test-unit",
                    memory,
                    streams,
                    bugs.contains(Bug.NO_APERTURE_CHECK) ? format.inputBits() - 1 : format.inputBits(),
                    format.outputBits());
            this.format = format;
            this.bugs = bugs;
            this.root = new long[streams];
        }

        @Override
        protected PagingDomain createPagingDomain() {
            return new Domain(this);
        }

        @Override
        protected synchronized void programStream(int streamId, BaseDomain domain) {
            root[streamId] = domain != null && domain.type() == DomainType.PAGING
                    ? ((PagingDomain) domain).table().rootPa()
                    : 0;
        }

        @Override
        protected PageTableWalker.Result hardwareWalk(int streamId, long iova) {
            long r;
            synchronized (this) {
                r = root[bugs.contains(Bug.STREAMS_SHARE_ONE_TABLE) ? 0 : streamId];
            }
            if (r == 0) {
                return new PageTableWalker.Result(null, IommuFault.Reason.BLOCKED, -1);
            }
            return PageTableWalker.walk(memory(), format, r, iova);
        }

        private static final class Domain extends PagingDomain {
            private final Unit unit;

            Domain(Unit unit) {
                super(
                        unit,
                        unit.format,
                        0,
                        unit.bugs.contains(Bug.NO_APERTURE_CHECK)
                                ? 1L << (unit.format.inputBits() - 1)
                                : 1L << unit.format.inputBits());
                this.unit = unit;
            }

            @Override
            public void map(long iova, long pa, long size, Prot prot) {
                Prot p = unit.bugs.contains(Bug.IGNORES_READ_ONLY) && prot.read() ? Prot.READ_WRITE : prot;
                if (unit.bugs.contains(Bug.NO_APERTURE_CHECK)) {
                    table().map(iova, pa, size, p);
                    return;
                }
                if (unit.bugs.contains(Bug.MAP_NOT_ATOMIC)) {
                    for (long o = 0; o < size; o += granule()) {
                        super.map(iova + o, pa + o, granule(), p);
                    }
                    return;
                }
                if (unit.bugs.contains(Bug.IGNORES_INJECTED_MAP_FAILURE)
                        && unit.memory().failures().pending(FailureInjector.Point.MAP)) {
                    try {
                        unit.memory().failures().check(FailureInjector.Point.MAP);
                    } catch (MappingConflictException swallowed) {
                        // the bug, as a domain that never checks the injector shows it: the map goes
                        // ahead and the injected failure is still pending afterwards
                        table().map(iova, pa, size, p);
                        unit.memory().failures().failNth(FailureInjector.Point.MAP, 1);
                        return;
                    }
                }
                try {
                    super.map(iova, pa, size, p);
                } catch (MappingConflictException e) {
                    if (!unit.bugs.contains(Bug.OVERWRITES_ON_CONFLICT)) {
                        throw e;
                    }
                    table().unmap(iova, size);
                    table().map(iova, pa, size, p);
                }
            }

            @Override
            public long unmap(long iova, long size) {
                long n = super.unmap(iova, size);
                if (unit.bugs.contains(Bug.FLUSH_ON_UNMAP)) {
                    flushIotlb();
                }
                return unit.bugs.contains(Bug.UNMAP_MISCOUNTS) && n > 0 ? n + granule() : n;
            }

            @Override
            public long iovaToPhys(long iova) {
                long pa = super.iovaToPhys(iova);
                return pa >= 0 && unit.bugs.contains(Bug.IOVA_TO_PHYS_OFF_BY_A_GRANULE) ? pa + granule() : pa;
            }

            @Override
            protected void release() {
                if (!unit.bugs.contains(Bug.LEAKS_TABLES_ON_CLOSE)) {
                    super.release();
                }
            }
        }
    }
}
