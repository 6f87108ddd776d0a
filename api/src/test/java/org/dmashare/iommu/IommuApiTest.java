package org.dmashare.iommu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.MappingConflictException;
import org.dmashare.fixture.TwoLevelBackend;
import org.dmashare.iova.IovaSpace;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;
import org.junit.jupiter.api.Test;

/**
 * The domain level of map and unmap ({@link IommuApi}) on the test-only two-level backend: which
 * IOTLB work each operation does, counted as the unit's invalidation commands and as the calls a
 * recording domain sees, and what a device reaches afterwards. The table level beside it shows the
 * stale translations the domain level exists to prevent.
 */
class IommuApiTest {
    private static final long G = 0x1000;
    private static final long IOVA = 0x10_0000;

    private final PhysicalMemory memory = PhysicalMemory.create(0x8_0000_0000L, 64L << 20, 4096);
    private final Iommu unit = unit("u");
    private final DmaDevice device = unit.device(0);
    private final IommuDomain domain = attached(unit);

    private Iommu unit(String name) {
        return IommuBackends.find(TwoLevelBackend.NAME)
                .create(IommuConfig.builder("two-level-4k").name(name).build(), memory);
    }

    private static IommuDomain attached(Iommu unit) {
        IommuDomain d = unit.createDomain();
        unit.device(0).attach(d);
        return d;
    }

    /** {@code size} bytes of buffer pages, each granule's first byte its index + 1. */
    private long pages(long size) {
        long pa = memory.allocator().allocate(size, PageUse.BUFFER);
        for (long o = 0; o < size; o += G) {
            memory.write(pa + o, new byte[] {(byte) (o / G + 1)});
        }
        return pa;
    }

    private long invalidations() {
        return TwoLevelBackend.invalidations(unit);
    }

    private void assertFaults(long iova) {
        assertThatThrownBy(() -> device.read(iova, 1))
                .as("device read of %s", Long.toHexString(iova))
                .isInstanceOf(DeviceFaultException.class);
    }

    @Test
    void mapIsTheTableMapFollowedByOneSyncMapOfTheWholeRange() {
        Recording r = new Recording(domain);
        long pa = pages(4 * G);
        IommuApi.map(r, IOVA, pa, 4 * G, Prot.READ_WRITE);
        assertThat(r.calls).containsExactly("map " + IOVA + " " + 4 * G, "syncMap " + IOVA + " " + 4 * G);
        assertThat(device.read(IOVA + 3 * G, 1)).containsExactly(4);
    }

    @Test
    void mapWhoseSyncFailsIsUnmappedAndFlushedBeforeTheFailureIsThrown() {
        Recording r = new Recording(domain);
        r.failSync = true;
        long pa = pages(G);
        assertThatThrownBy(() -> IommuApi.map(r, IOVA, pa, G, Prot.READ_WRITE)).isSameAs(r.syncFailure);
        assertThat(r.calls)
                .containsExactly(
                        "map " + IOVA + " " + G, "syncMap " + IOVA + " " + G, "unmap " + IOVA + " " + G, "flushIotlb");
        assertThat(domain.iovaToPhys(IOVA)).isEqualTo(IommuDomain.NO_TRANSLATION);
    }

    @Test
    void mapNoSyncDoesNoIotlbWorkAndOneSyncMapCoversSeveralPieces() {
        Recording r = new Recording(domain);
        long pa = pages(4 * G);
        IommuApi.mapNoSync(r, IOVA, pa, G, Prot.READ_WRITE);
        IommuApi.mapNoSync(r, IOVA + G, pa + G, 2 * G, Prot.READ_WRITE);
        assertThat(r.calls).containsExactly("map " + IOVA + " " + G, "map " + (IOVA + G) + " " + 2 * G);
        IommuApi.syncMap(r, IOVA, 3 * G);
        assertThat(r.calls).endsWith("syncMap " + IOVA + " " + 3 * G).hasSize(3);
        assertThat(device.read(IOVA + 2 * G, 1)).containsExactly(3);
    }

    @Test
    void unmapInvalidatesOnceSoNoDeviceKeepsAStaleTranslation() {
        long pa = pages(2 * G);
        IommuApi.map(domain, IOVA, pa, 2 * G, Prot.READ_WRITE);
        assertThat(device.read(IOVA, 1)).containsExactly(1);
        assertThat(unit.iotlbSize()).as("the read filled the IOTLB").isPositive();
        long before = invalidations();
        assertThat(IommuApi.unmap(domain, IOVA, 2 * G)).isEqualTo(2 * G);
        assertThat(invalidations() - before).as("invalidation commands").isEqualTo(1);
        assertFaults(IOVA);
    }

    @Test
    void tableLevelUnmapDoesNoIotlbWorkSoTheCachedTranslationStaysUsable() {
        long pa = pages(G);
        IommuApi.map(domain, IOVA, pa, G, Prot.READ_WRITE);
        device.read(IOVA, 1);
        long before = invalidations();
        assertThat(domain.unmap(IOVA, G)).isEqualTo(G);
        assertThat(invalidations()).as("invalidation commands").isEqualTo(before);
        assertThat(device.read(IOVA, 1)).as("stale until flush").containsExactly(1);
        domain.flushIotlb();
        assertFaults(IOVA);
    }

    @Test
    void unmapFastDefersTheInvalidationToOneIotlbSyncForTheWholeBatch() {
        long pa = pages(4 * G);
        IommuApi.map(domain, IOVA, pa, 2 * G, Prot.READ_WRITE);
        IommuApi.map(domain, IOVA + 2 * G, pa + 2 * G, 2 * G, Prot.READ_WRITE);
        device.read(IOVA, (int) (4 * G));
        long before = invalidations();
        IotlbGather gather = new IotlbGather();
        assertThat(IommuApi.unmapFast(domain, IOVA + 2 * G, 2 * G, gather)).isEqualTo(2 * G);
        assertThat(IommuApi.unmapFast(domain, IOVA, 2 * G, gather)).isEqualTo(2 * G);
        assertThat(invalidations()).as("no invalidation before the sync").isEqualTo(before);
        assertThat(device.read(IOVA, 1)).as("stale until the sync").containsExactly(1);
        assertThat(device.read(IOVA + 3 * G, 1)).as("stale until the sync").containsExactly(4);
        assertThat(gather.domain()).isSameAs(domain);
        assertThat(gather.start()).as("adjacent ranges merged").isEqualTo(IOVA);
        assertThat(gather.end()).isEqualTo(IOVA + 4 * G);
        IommuApi.iotlbSync(domain, gather);
        assertThat(invalidations() - before)
                .as("one invalidation for the batch")
                .isEqualTo(1);
        assertThat(gather.isEmpty()).as("the sync empties the gather").isTrue();
        assertFaults(IOVA);
        assertFaults(IOVA + 3 * G);
    }

    @Test
    void aGatherOfDisjointRangesCoversTheSmallestRangeHoldingThem() {
        long pa = pages(G);
        long pb = pages(G);
        IommuApi.map(domain, IOVA, pa, G, Prot.READ_WRITE);
        IommuApi.map(domain, IOVA + 16 * G, pb, G, Prot.READ_WRITE);
        IotlbGather gather = new IotlbGather();
        IommuApi.unmapFast(domain, IOVA + 16 * G, G, gather);
        IommuApi.unmapFast(domain, IOVA, G, gather);
        assertThat(gather.start()).isEqualTo(IOVA);
        assertThat(gather.end()).isEqualTo(IOVA + 17 * G);
        assertThat(gather).hasToString("IOTLB gather of " + Hex.range(IOVA, 17 * G) + " in " + domain);
    }

    @Test
    void syncOfAGatherThatCollectedNothingDoesNoIotlbWork() {
        long pa = pages(G);
        IommuApi.map(domain, IOVA, pa, G, Prot.READ_WRITE);
        device.read(IOVA, 1);
        int cached = unit.iotlbSize();
        long before = invalidations();
        IotlbGather gather = new IotlbGather();
        assertThat(IommuApi.unmapFast(domain, IOVA + 8 * G, G, gather))
                .as("nothing mapped there")
                .isZero();
        assertThat(gather.isEmpty()).isTrue();
        IommuApi.iotlbSync(domain, gather);
        assertThat(invalidations()).isEqualTo(before);
        assertThat(unit.iotlbSize()).as("the IOTLB is untouched").isEqualTo(cached);
        assertThat(IommuApi.unmap(domain, IOVA + 8 * G, G)).isZero();
        assertThat(invalidations())
                .as("an unmap that removed nothing invalidates nothing")
                .isEqualTo(before);
        assertThatThrownBy(gather::start)
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("empty");
    }

    @Test
    void aRefusedUnmapFastChangesNeitherTheTablesNorTheGather() {
        long block = 0x20_0000;
        long pa = memory.allocator().allocate(block, PageUse.BUFFER);
        IommuApi.map(domain, 2 * block, pa, block, Prot.READ_WRITE);
        IotlbGather gather = new IotlbGather();
        long before = invalidations();
        assertThatThrownBy(() -> IommuApi.unmapFast(domain, 2 * block + G, G, gather))
                .isInstanceOf(MappingConflictException.class);
        assertThatThrownBy(() -> IommuApi.unmap(domain, 2 * block, G)).isInstanceOf(MappingConflictException.class);
        assertThat(gather.isEmpty()).isTrue();
        assertThat(invalidations()).isEqualTo(before);
        assertThat(domain.iovaToPhys(2 * block + G)).isEqualTo(pa + G);
    }

    @Test
    void aGatherHoldingOneDomainsRangesRefusesAnotherDomainAndChangesNothing() {
        Iommu other = unit("v");
        IommuDomain b = attached(other);
        long pa = pages(2 * G);
        IommuApi.map(domain, IOVA, pa, G, Prot.READ_WRITE);
        IommuApi.map(b, IOVA, pa + G, G, Prot.READ_WRITE);
        IotlbGather gather = new IotlbGather();
        IommuApi.unmapFast(domain, IOVA, G, gather);
        assertThatThrownBy(() -> IommuApi.unmapFast(b, IOVA, G, gather))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("unmapFast of " + Hex.range(IOVA, G) + " on " + b)
                .hasMessageContaining("holds " + Hex.range(IOVA, G) + " of " + domain);
        assertThat(b.iovaToPhys(IOVA))
                .as("nothing unmapped in the other domain")
                .isEqualTo(pa + G);
        assertThatThrownBy(() -> IommuApi.iotlbSync(b, gather)).isInstanceOf(InvalidArgumentException.class);
        assertThat(gather.isEmpty()).isFalse();
        IommuApi.iotlbSync(domain, gather);
        assertThat(gather.isEmpty()).isTrue();
        IommuApi.unmapFast(b, IOVA, G, gather);
        assertThat(gather.domain()).as("an emptied gather serves any domain").isSameAs(b);
    }

    @Test
    void nullArgumentsAreRefusedWithNullPointerException() {
        IotlbGather gather = new IotlbGather();
        assertThatThrownBy(() -> IommuApi.map(null, IOVA, 0, G, Prot.READ)).isInstanceOf(NullPointerException.class);
        assertThatThrownBy(() -> IommuApi.map(domain, IOVA, 0, G, null)).isInstanceOf(NullPointerException.class);
        assertThatThrownBy(() -> IommuApi.unmap(null, IOVA, G)).isInstanceOf(NullPointerException.class);
        assertThatThrownBy(() -> IommuApi.unmapFast(domain, IOVA, G, null)).isInstanceOf(NullPointerException.class);
        assertThatThrownBy(() -> IommuApi.iotlbSync(null, gather)).isInstanceOf(NullPointerException.class);
        assertThatThrownBy(() -> IommuApi.iotlbSync(domain, null)).isInstanceOf(NullPointerException.class);
        assertThatThrownBy(() -> IommuApi.syncMap(null, IOVA, G)).isInstanceOf(NullPointerException.class);
    }

    /** Delegates to a real domain and records the table- and hardware-level calls it receives. */
    private static final class Recording implements IommuDomain {
        private final IommuDomain real;
        final List<String> calls = new ArrayList<>();
        boolean failSync;
        final RuntimeException syncFailure = new IllegalStateException("injected syncMap failure");

        Recording(IommuDomain real) {
            this.real = real;
        }

        @Override
        public Iommu iommu() {
            return real.iommu();
        }

        @Override
        public DomainType type() {
            return real.type();
        }

        @Override
        public long granule() {
            return real.granule();
        }

        @Override
        public long pageSizes() {
            return real.pageSizes();
        }

        @Override
        public long apertureStart() {
            return real.apertureStart();
        }

        @Override
        public long apertureEnd() {
            return real.apertureEnd();
        }

        @Override
        public IovaSpace iovaSpace() {
            return real.iovaSpace();
        }

        @Override
        public void map(long iova, long pa, long size, Prot prot) {
            calls.add("map " + iova + " " + size);
            real.map(iova, pa, size, prot);
        }

        @Override
        public long unmap(long iova, long size) {
            calls.add("unmap " + iova + " " + size);
            return real.unmap(iova, size);
        }

        @Override
        public long iovaToPhys(long iova) {
            return real.iovaToPhys(iova);
        }

        @Override
        public void flushIotlb() {
            calls.add("flushIotlb");
            real.flushIotlb();
        }

        @Override
        public void syncMap(long iova, long size) {
            calls.add("syncMap " + iova + " " + size);
            if (failSync) {
                throw syncFailure;
            }
            real.syncMap(iova, size);
        }

        @Override
        public Set<DmaDevice> devices() {
            return real.devices();
        }

        @Override
        public void close() {
            real.close();
        }

        @Override
        public boolean isClosed() {
            return real.isClosed();
        }
    }
}
