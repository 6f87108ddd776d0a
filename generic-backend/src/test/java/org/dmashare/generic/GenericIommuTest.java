package org.dmashare.generic;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.dmashare.InvalidArgumentException;
import org.dmashare.ObjectClosedException;
import org.dmashare.iommu.Access;
import org.dmashare.iommu.DeviceFaultException;
import org.dmashare.iommu.DmaDevice;
import org.dmashare.iommu.DomainType;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuBackend;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.IommuFault;
import org.dmashare.iommu.IommuFault.Reason;
import org.dmashare.iommu.Prot;
import org.dmashare.iommu.support.AbstractIommu;
import org.dmashare.iommu.support.PagingDomain;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.pgtable.IoPageTable;
import org.dmashare.pgtable.PageTableWalker;
import org.junit.jupiter.api.Test;

/** Devices, faults, the IOTLB, domain types and configuration of the generic backend. */
class GenericIommuTest {
    private static final long BASE = 0x8_0000_0000L;
    private static final long K4 = 0x1000;
    private static final long M2 = 1L << 21;

    private final PhysicalMemory memory = PhysicalMemory.create(BASE, 1L << 32, 4096);
    private final GenericBackend backend = new GenericBackend();
    private final Iommu iommu =
            backend.create(IommuConfig.builder("lpae-4k").name("smmu0").build(), memory);
    /** Buffer pages owned by the test, so DMA never lands on page-table pages. */
    private final long buf = memory.allocator().allocate(1L << 26, PageUse.BUFFER);

    private static byte[] pattern(int n, int seed) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 31 + seed);
        }
        return b;
    }

    private static IommuFault faultOf(Runnable access) {
        DeviceFaultException e = catchThrowableOfType(DeviceFaultException.class, access::run);
        assertThat(e).as("the access faults").isNotNull();
        return e.fault();
    }

    @Test
    void deviceDmaCrossesPageBoundariesIntoScatteredPages() {
        IommuDomain d = iommu.createDomain();
        DmaDevice dev = iommu.device(3);
        dev.attach(d);
        long iova = 0x10_0000;
        d.map(iova, buf + 5 * K4, K4, Prot.READ_WRITE);
        d.map(iova + K4, buf + 2 * K4, K4, Prot.READ_WRITE);
        d.map(iova + 2 * K4, buf + 9 * K4, K4, Prot.READ_WRITE);
        byte[] data = pattern(2 * (int) K4 + 200, 1);
        dev.write(iova + 100, data);
        assertThat(memory.read(buf + 5 * K4 + 100, (int) K4 - 100)).isEqualTo(Arrays.copyOfRange(data, 0, 3996));
        assertThat(memory.read(buf + 2 * K4, (int) K4)).isEqualTo(Arrays.copyOfRange(data, 3996, 3996 + 4096));
        assertThat(memory.read(buf + 9 * K4, 300)).isEqualTo(Arrays.copyOfRange(data, 8092, 8392));
        assertThat(memory.read(buf + 5 * K4 + 99, 1)).containsExactly(0);
        assertThat(dev.read(iova + 100, data.length)).isEqualTo(data);
        byte[] slice = new byte[10];
        dev.read(iova + K4 - 5, slice, 0, 10);
        assertThat(slice).isEqualTo(Arrays.copyOfRange(data, 3991, 4001));
        assertThat(iommu.faults()).isEmpty();
    }

    @Test
    void deviceDmaCrossesBlockBoundaries() {
        IommuDomain d = iommu.createDomain();
        DmaDevice dev = iommu.device(0);
        dev.attach(d);
        d.map(M2, buf + 8 * M2, M2, Prot.READ_WRITE);
        d.map(2 * M2, buf + 4 * M2, M2, Prot.READ_WRITE);
        assertThat(iommu.walk(0, M2).get().pageSize()).isEqualTo(M2);
        byte[] data = pattern(3 * (int) K4, 7);
        dev.write(2 * M2 - K4 - 7, data);
        assertThat(memory.read(buf + 9 * M2 - K4 - 7, (int) K4 + 7)).isEqualTo(Arrays.copyOfRange(data, 0, 4103));
        assertThat(memory.read(buf + 4 * M2, 3 * (int) K4 - 4103))
                .isEqualTo(Arrays.copyOfRange(data, 4103, data.length));
        assertThat(dev.read(2 * M2 - K4 - 7, data.length)).isEqualTo(data);
    }

    @Test
    void readOnlyMappingRefusesDeviceWritesWithAPermissionFault() {
        IommuDomain d = iommu.createDomain();
        DmaDevice dev = iommu.device(2);
        dev.attach(d);
        memory.write(buf, pattern(16, 3));
        d.map(0x4000, buf, K4, Prot.READ);
        assertThat(dev.read(0x4000, 16)).isEqualTo(pattern(16, 3));
        IommuFault f = faultOf(() -> dev.write(0x4008, new byte[] {1, 2}));
        assertThat(f).isEqualTo(new IommuFault("smmu0", 2, 0x4008, Access.WRITE, Reason.PERMISSION, "PERMISSION"));
        assertThat(memory.read(buf, 16)).isEqualTo(pattern(16, 3));
        assertThat(iommu.faults()).containsExactly(f);
    }

    @Test
    void unmappedIovaFaultsWithATranslationFaultNamingTheLevel() {
        IommuDomain d = iommu.createDomain();
        DmaDevice dev = iommu.device(1);
        dev.attach(d);
        IommuFault f = faultOf(() -> dev.read(0x1234_5000L, 4));
        assertThat(f)
                .isEqualTo(new IommuFault("smmu0", 1, 0x1234_5000L, Access.READ, Reason.TRANSLATION, "TRANSLATION_L0"));
        d.map(0x1234_0000L, buf, K4, Prot.READ_WRITE);
        IommuFault g = faultOf(() -> dev.read(0x1234_5000L, 4));
        assertThat(g.code()).isEqualTo("TRANSLATION_L3");
        assertThat(iommu.faults()).containsExactly(f, g);
        assertThat(f.toString()).contains("smmu0", "stream 1", "READ", "0x1234_5000", "TRANSLATION");
    }

    @Test
    void accessThatRunsIntoAnUnmappedPageFaultsThereAfterTransferringTheBytesBefore() {
        IommuDomain d = iommu.createDomain();
        DmaDevice dev = iommu.device(0);
        dev.attach(d);
        d.map(0x10_0000, buf, K4, Prot.READ_WRITE);
        IommuFault f = faultOf(() -> dev.write(0x10_0F00, pattern(0x200, 5)));
        assertThat(f.iova()).isEqualTo(0x10_1000);
        assertThat(f.access()).isEqualTo(Access.WRITE);
        assertThat(memory.read(buf + 0xF00, 0x100)).isEqualTo(Arrays.copyOfRange(pattern(0x200, 5), 0, 0x100));
    }

    @Test
    void ioVaBeyondTheInputSizeIsAnAddressSizeFault() {
        Iommu small =
                backend.create(IommuConfig.builder("lpae-4k").inputBits(32).build(), memory);
        DmaDevice dev = small.device(0);
        dev.attach(small.createDomain());
        IommuFault f = faultOf(() -> dev.read(1L << 32, 1));
        assertThat(f.reason()).isEqualTo(Reason.ADDRESS_SIZE);
        assertThat(f.code()).isEqualTo("ADDRESS_SIZE");
    }

    @Test
    void streamsStartBlockedAndBlockAfterDetachOrInABlockedDomain() {
        DmaDevice dev = iommu.device(5);
        assertThat(dev.domain()).isEmpty();
        assertThat(faultOf(() -> dev.read(0x1000, 1)).reason()).isEqualTo(Reason.BLOCKED);
        IommuDomain d = iommu.createDomain();
        d.map(0x1000, buf, K4, Prot.READ_WRITE);
        dev.attach(d);
        assertThat(dev.domain()).contains(d);
        assertThat(d.devices()).containsExactly(dev);
        dev.read(0x1000, 1);
        dev.detach();
        dev.detach();
        assertThat(dev.domain()).isEmpty();
        assertThat(d.devices()).isEmpty();
        assertThat(faultOf(() -> dev.read(0x1000, 1)))
                .isEqualTo(new IommuFault("smmu0", 5, 0x1000, Access.READ, Reason.BLOCKED, "BLOCKED"));
        IommuDomain blocked = iommu.createDomain(DomainType.BLOCKED);
        assertThat(blocked.type()).isEqualTo(DomainType.BLOCKED);
        dev.attach(blocked);
        assertThat(faultOf(() -> dev.write(buf, new byte[1])).reason()).isEqualTo(Reason.BLOCKED);
        assertThat(iommu.walk(5, 0x1000)).isEmpty();
        assertThatThrownBy(() -> blocked.map(0, buf, K4, Prot.READ)).isInstanceOf(InvalidArgumentException.class);
        assertThat(blocked.iovaToPhys(buf)).isEqualTo(IommuDomain.NO_TRANSLATION);
    }

    @Test
    void identityDomainsNeedTheBypassOption() {
        assertThatThrownBy(() -> iommu.createDomain(DomainType.IDENTITY))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("identity");
        Iommu bypass = backend.create(
                IommuConfig.builder("lpae-4k").option("bypass", "true").build(), memory);
        IommuDomain identity = bypass.createDomain(DomainType.IDENTITY);
        assertThat(identity.iovaToPhys(buf + 0x1234)).isEqualTo(buf + 0x1234);
        DmaDevice dev = bypass.device(0);
        dev.attach(identity);
        memory.write(buf + 0x5000, pattern(64, 9));
        assertThat(dev.read(buf + 0x5000, 64)).isEqualTo(pattern(64, 9));
        dev.write(buf + 0x6FF0, pattern(32, 2));
        assertThat(memory.read(buf + 0x6FF0, 32)).isEqualTo(pattern(32, 2));
        assertThat(bypass.walk(0, buf + 0x10).get().pa()).isEqualTo(buf + 0x10);
        assertThatThrownBy(() -> dev.read(0x1000, 1))
                .as("identity DMA outside memory")
                .isInstanceOf(InvalidArgumentException.class);
        Iommu explicitOff = backend.create(
                IommuConfig.builder("lpae-4k").option("bypass", "false").build(), memory);
        assertThatThrownBy(() -> explicitOff.createDomain(DomainType.IDENTITY))
                .isInstanceOf(InvalidArgumentException.class);
    }

    @Test
    void unmapWithoutFlushLeavesAStaleTranslationThatFlushRemoves() {
        IommuDomain d = iommu.createDomain();
        DmaDevice dev = iommu.device(0);
        dev.attach(d);
        memory.write(buf + K4, pattern(32, 1));
        memory.write(buf + 2 * K4, pattern(32, 2));
        d.map(0x8000, buf + K4, K4, Prot.READ_WRITE);
        assertThat(dev.read(0x8000, 32)).isEqualTo(pattern(32, 1));
        assertThat(iommu.iotlbSize()).isEqualTo(1);
        assertThat(d.unmap(0x8000, K4)).isEqualTo(K4);
        assertThat(iommu.walk(0, 0x8000)).as("the tables no longer map it").isEmpty();
        assertThat(dev.read(0x8000, 32)).as("stale IOTLB entry").isEqualTo(pattern(32, 1));
        // Remapping elsewhere without a flush still reaches the old page.
        d.map(0x8000, buf + 2 * K4, K4, Prot.READ_WRITE);
        assertThat(dev.read(0x8000, 32)).isEqualTo(pattern(32, 1));
        d.flushIotlb();
        assertThat(iommu.iotlbSize()).isZero();
        assertThat(dev.read(0x8000, 32)).isEqualTo(pattern(32, 2));
        d.unmap(0x8000, K4);
        d.flushIotlb();
        assertThat(faultOf(() -> dev.read(0x8000, 1)).reason()).isEqualTo(Reason.TRANSLATION);
        assertThat(iommu.faults()).hasSize(1);
    }

    @Test
    void flushOfOneDomainLeavesOtherStreamsCached() {
        IommuDomain a = iommu.createDomain();
        IommuDomain b = iommu.createDomain();
        iommu.device(0).attach(a);
        iommu.device(1).attach(b);
        a.map(0x1000, buf, K4, Prot.READ_WRITE);
        b.map(0x1000, buf, K4, Prot.READ_WRITE);
        iommu.device(0).read(0x1000, 1);
        iommu.device(1).read(0x1000, 1);
        assertThat(iommu.iotlbSize()).isEqualTo(2);
        b.unmap(0x1000, K4);
        a.unmap(0x1000, K4);
        b.flushIotlb();
        assertThat(iommu.iotlbSize()).isEqualTo(1);
        iommu.device(0).read(0x1000, 1); // still stale in a
        assertThat(faultOf(() -> iommu.device(1).read(0x1000, 1)).reason()).isEqualTo(Reason.TRANSLATION);
        ((AbstractIommu) iommu).flushIotlbAll();
        assertThat(iommu.iotlbSize()).isZero();
    }

    @Test
    void detachAndAttachInvalidateTheStreamsIotlb() {
        IommuDomain d = iommu.createDomain();
        DmaDevice dev = iommu.device(0);
        dev.attach(d);
        d.map(0x8000, buf, K4, Prot.READ_WRITE);
        dev.read(0x8000, 1);
        d.unmap(0x8000, K4);
        dev.detach();
        dev.attach(d);
        assertThat(iommu.iotlbSize()).isZero();
        assertThat(faultOf(() -> dev.read(0x8000, 1)).reason()).isEqualTo(Reason.TRANSLATION);
        // Attaching to another domain: no translation of the old one survives.
        d.map(0x8000, buf, K4, Prot.READ_WRITE);
        dev.read(0x8000, 1);
        IommuDomain other = iommu.createDomain();
        dev.attach(other);
        assertThat(d.devices()).isEmpty();
        assertThat(other.devices()).containsExactly(dev);
        assertThat(faultOf(() -> dev.read(0x8000, 1)).reason()).isEqualTo(Reason.TRANSLATION);
    }

    @Test
    void closingADomainDetachesItsDevicesAndFreesItsTables() {
        long tables = memory.allocator().usage().tableBytes();
        IommuDomain d = iommu.createDomain();
        DmaDevice dev = iommu.device(0);
        dev.attach(d);
        d.map(0x8000, buf, K4, Prot.READ_WRITE);
        dev.read(0x8000, 1);
        d.close();
        assertThat(dev.domain()).isEmpty();
        assertThat(iommu.iotlbSize()).isZero();
        assertThat(faultOf(() -> dev.read(0x8000, 1)).reason()).isEqualTo(Reason.BLOCKED);
        assertThat(memory.allocator().usage().tableBytes()).isEqualTo(tables);
        assertThat(((GenericIommu) iommu).ttbr(0)).isZero();
        assertThatThrownBy(() -> dev.attach(d)).isInstanceOf(ObjectClosedException.class);
    }

    @Test
    void faultLogRecordsEachFaultUntilClearedAndKeepsTheNewest() {
        DmaDevice dev = iommu.device(4);
        for (int i = 0; i < AbstractIommu.FAULT_LOG_CAPACITY + 6; i++) {
            long iova = i * K4;
            faultOf(() -> dev.read(iova, 1));
        }
        assertThat(iommu.faults()).hasSize(AbstractIommu.FAULT_LOG_CAPACITY);
        assertThat(iommu.faults().get(0).iova()).isEqualTo(6 * K4);
        assertThat(iommu.faults().get(AbstractIommu.FAULT_LOG_CAPACITY - 1).iova())
                .isEqualTo((AbstractIommu.FAULT_LOG_CAPACITY + 5) * K4);
        iommu.clearFaults();
        assertThat(iommu.faults()).isEmpty();
        faultOf(() -> dev.write(0x7000, new byte[1]));
        assertThat(iommu.faults())
                .containsExactly(new IommuFault("smmu0", 4, 0x7000, Access.WRITE, Reason.BLOCKED, "BLOCKED"));
    }

    @Test
    void attachRefusesADomainOfAnotherIommu() {
        Iommu other = backend.create(IommuConfig.of("lpae-4k"), memory);
        IommuDomain foreign = other.createDomain();
        assertThatThrownBy(() -> iommu.device(0).attach(foreign))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("another IOMMU");
        assertThat(iommu.device(0).domain()).isEmpty();
        assertThat(foreign.devices()).isEmpty();
    }

    @Test
    void unitReportsItsConfiguration() {
        assertThat(iommu.name()).isEqualTo("smmu0");
        assertThat(iommu.backend()).isEqualTo("generic");
        assertThat(iommu.variant().name()).isEqualTo("lpae-4k");
        assertThat(iommu.memory()).isSameAs(memory);
        assertThat(iommu.streamCount()).isEqualTo(GenericBackend.DEFAULT_STREAMS);
        assertThat(iommu.inputBits()).isEqualTo(48);
        assertThat(iommu.outputBits()).isEqualTo(48);
        assertThat(iommu.device(7)).isSameAs(iommu.device(7));
        assertThat(iommu.device(7).streamId()).isEqualTo(7);
        assertThat(iommu.device(7).iommu()).isSameAs(iommu);
        assertThat(backend.variants())
                .extracting(IommuBackend.Variant::name)
                .containsExactly("lpae-4k", "lpae-16k", "lpae-64k");
        assertThat(backend.variant("lpae-64k").granule()).isEqualTo(0x10000);
    }

    @Test
    void streamIdsAreValidated() {
        Iommu one = backend.create(IommuConfig.builder("lpae-4k").streams(1).build(), memory);
        assertThat(one.streamCount()).isEqualTo(1);
        assertThatThrownBy(() -> one.device(1))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("0..0");
        assertThatThrownBy(() -> one.device(-1)).isInstanceOf(InvalidArgumentException.class);
        assertThatThrownBy(() -> one.walk(1, 0)).isInstanceOf(InvalidArgumentException.class);
        assertThatThrownBy(() -> ((GenericIommu) one).ttbr(1)).isInstanceOf(InvalidArgumentException.class);
        assertThat(backend.create(IommuConfig.builder("lpae-4k").streams(256).build(), memory)
                        .streamCount())
                .isEqualTo(256);
        assertThatThrownBy(() -> backend.create(
                        IommuConfig.builder("lpae-4k").streams(257).build(), memory))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("1..256");
        assertThatThrownBy(() -> IommuConfig.builder("lpae-4k").streams(-1).build())
                .isInstanceOf(InvalidArgumentException.class);
    }

    @Test
    void addressWidthsOutside32To48AreRefused() {
        for (int bits : new int[] {31, 49, 52}) {
            assertThatThrownBy(() -> backend.create(
                            IommuConfig.builder("lpae-4k").inputBits(bits).build(), memory))
                    .isInstanceOf(InvalidArgumentException.class);
            assertThatThrownBy(() -> backend.create(
                            IommuConfig.builder("lpae-4k").outputBits(bits).build(), memory))
                    .isInstanceOf(InvalidArgumentException.class);
        }
        assertThatThrownBy(() -> IommuConfig.builder("lpae-4k").inputBits(-1).build())
                .isInstanceOf(InvalidArgumentException.class);
    }

    @Test
    void unknownOptionsAndBadFlagValuesAreRefused() {
        assertThatThrownBy(() -> backend.create(
                        IommuConfig.builder("lpae-4k").option("bypas", "true").build(), memory))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("bypas")
                .hasMessageContaining("[bypass, contiguous]");
        assertThatThrownBy(() -> backend.create(
                        IommuConfig.builder("lpae-4k").option("bypass", "yes").build(), memory))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("true or false");
    }

    @Test
    void identityAndBlockedDomainsHaveNoTableNorIovaSpace() {
        Iommu bypass = backend.create(
                IommuConfig.builder("lpae-16k").option("bypass", "true").build(), memory);
        for (DomainType type : new DomainType[] {DomainType.IDENTITY, DomainType.BLOCKED}) {
            IommuDomain d = bypass.createDomain(type);
            assertThat(d.type()).isEqualTo(type);
            assertThat(d.iommu()).isSameAs(bypass);
            assertThat(d.granule()).isEqualTo(0x4000);
            assertThat(d.pageSizes()).isEqualTo(0x4000 | (1L << 25));
            assertThat(d.apertureEnd()).isEqualTo(d.apertureStart());
            assertThatThrownBy(d::iovaSpace).isInstanceOf(InvalidArgumentException.class);
            assertThatThrownBy(() -> d.map(0x4000, buf, 0x4000, Prot.READ))
                    .isInstanceOf(InvalidArgumentException.class);
            assertThatThrownBy(() -> d.unmap(0x4000, 0x4000)).isInstanceOf(InvalidArgumentException.class);
            d.close();
            assertThat(d.isClosed()).isTrue();
        }
    }

    @Test
    void iotlbIsEmptiedWhenItOverflows() {
        IommuDomain d = iommu.createDomain();
        DmaDevice dev = iommu.device(0);
        dev.attach(d);
        int pages = AbstractIommu.IOTLB_CAPACITY + 1;
        d.map(0x1000_0000L, buf, pages * K4, Prot.READ_WRITE);
        for (int i = 0; i < AbstractIommu.IOTLB_CAPACITY; i++) {
            dev.read(0x1000_0000L + i * K4, 1);
        }
        assertThat(iommu.iotlbSize()).isEqualTo(AbstractIommu.IOTLB_CAPACITY);
        dev.read(0x1000_0000L + (pages - 1) * K4, 1);
        assertThat(iommu.iotlbSize()).isEqualTo(1);
    }

    @Test
    void threadsMappingDisjointRangesOfOneDomainSeeOnlyTheirOwnData() throws Exception {
        IommuDomain d = iommu.createDomain();
        int threads = 4;
        long tables = memory.allocator().usage().tableBytes();
        CountDownLatch start = new CountDownLatch(1);
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int id = t;
                DmaDevice dev = iommu.device(id);
                dev.attach(d);
                done.add(pool.submit((Callable<Void>) () -> {
                    Random rnd = new Random(id);
                    long region = 0x4000_0000L + id * M2; // same level-2 table for all threads
                    long pa = buf + id * (2 * M2); // inside the test's own 64 MiB of buffer pages
                    start.await();
                    for (int round = 0; round < 300; round++) {
                        int pages = 1 + rnd.nextInt(16);
                        long iova = region + K4 * rnd.nextInt(512 - pages);
                        d.map(iova, pa, pages * K4, Prot.READ_WRITE);
                        byte[] data = pattern((int) (pages * K4) - 3, id * 1000 + round);
                        dev.write(iova + 3, data);
                        assertThat(dev.read(iova + 3, data.length)).isEqualTo(data);
                        assertThat(memory.read(pa + 3, data.length)).isEqualTo(data);
                        assertThat(d.unmap(iova, pages * K4)).isEqualTo(pages * K4);
                        d.flushIotlb();
                    }
                    return null;
                }));
            }
            start.countDown();
            for (Future<?> f : done) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        // io-pgtable-arm's lifetime: unmaps of a few pages never cover a 2 MiB block, so the root,
        // the level-1 and level-2 tables and each thread's level-3 table stay, mapping nothing.
        IoPageTable table = ((PagingDomain) d).table();
        assertThat(table.tablePages()).hasSize(3 + threads);
        assertThat(PageTableWalker.leaves(memory, table.format(), table.rootPa()))
                .isEmpty();
        assertThat(memory.allocator().usage().tableBytes()).isEqualTo(tables + (2 + threads) * K4);
        assertThat(iommu.faults()).isEmpty();
    }

    @Test
    void configOptionsAreImmutableAndSortedByKey() {
        IommuConfig.Builder b = IommuConfig.builder("lpae-4k");
        List<String> keys = List.of("k", "c", "a", "z", "m", "b", "q", "d", "x", "e", "bypass");
        for (String k : keys) {
            b.option(k, "v");
        }
        IommuConfig config = b.build();
        assertThat(config.options().keySet()).containsExactlyElementsOf(new TreeSet<>(keys));
        assertThat(config.option("q")).contains("v");
        assertThat(config.option("nope")).isEmpty();
        assertThatThrownBy(() -> config.options().put("y", "v")).isInstanceOf(UnsupportedOperationException.class);
        assertThatThrownBy(() -> new IommuConfig("lpae-4k", "n", 0, 0, 0, Collections.singletonMap("k", null)))
                .isInstanceOf(NullPointerException.class);
        assertThat(config).isEqualTo(b.build());
    }

    @Test
    void unknownVariantIsRefusedWithTheList() {
        assertThatThrownBy(() -> backend.create(IommuConfig.of("lpae-8k"), memory))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("lpae-8k")
                .hasMessageContaining("[lpae-4k, lpae-16k, lpae-64k]");
        assertThatThrownBy(() -> IommuConfig.of(" ")).isInstanceOf(InvalidArgumentException.class);
    }
}
