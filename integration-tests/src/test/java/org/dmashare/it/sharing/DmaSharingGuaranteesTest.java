package org.dmashare.it.sharing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.dmashare.GranuleMismatchException;
import org.dmashare.Hex;
import org.dmashare.MappingConflictException;
import org.dmashare.UnsafeScatterListException;
import org.dmashare.iommu.DeviceFaultException;
import org.dmashare.iommu.DmaDevice;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.IommuFault;
import org.dmashare.iommu.Prot;
import org.dmashare.iommu.Translation;
import org.dmashare.iova.internal.DomainIovas;
import org.dmashare.it.rig.Rig;
import org.dmashare.memory.PageUse;
import org.dmashare.sharing.PageLease;
import org.dmashare.sharing.ScatterList;
import org.dmashare.sharing.ShareOptions;
import org.dmashare.sharing.SharedBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The guarantees of DESIGN.md, each checked by walking the tables in memory and by device DMA.
 * Tests that do not depend on particular granules run on generic, DART and mixed domain sets.
 */
class DmaSharingGuaranteesTest {

    static Stream<Arguments> pairs() {
        return Rig.pairs();
    }

    static Stream<Arguments> trios() {
        return Rig.trios();
    }

    static Stream<Arguments> singles() {
        return Stream.of(
                Arguments.of((Object) new String[] {"lpae-4k"}),
                Arguments.of((Object) new String[] {"apple-dart:t8020"}),
                Arguments.of((Object) new String[] {"apple-dart:t8110"}));
    }

    /** Pairs where the second domain's granule divides the first's. */
    static Stream<Arguments> finerSecond() {
        return Stream.of(
                Arguments.of((Object) new String[] {"lpae-16k", "lpae-4k"}),
                Arguments.of((Object) new String[] {"apple-dart:t8020", "apple-dart:t8110"}),
                Arguments.of((Object) new String[] {"apple-dart:t6000", "lpae-4k"}));
    }

    /** Pairs where the second domain's granule is coarser than the first's. */
    static Stream<Arguments> coarserSecond() {
        return Stream.of(
                Arguments.of((Object) new String[] {"lpae-4k", "lpae-64k"}),
                Arguments.of((Object) new String[] {"lpae-4k", "apple-dart:t8020"}),
                Arguments.of((Object) new String[] {"apple-dart:t6000", "flat:flat-64k"}));
    }

    /**
     * A new buffer reads zero, to the CPU and to every device, even on pages the previous buffer
     * filled: what a freed buffer held never reaches the next owner's devices (as with
     * {@code dma_alloc_coherent}).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("pairs")
    void aNewBufferIsZeroEvenOnPagesAClosedBufferFilled(String[] spec) {
        Rig rig = new Rig(spec);
        List<IommuDomain> domains = rig.domains;
        long firstPage;
        int size = 40 * 1024;
        try (SharedBuffer old = rig.sharing.allocate(size, domains)) {
            firstPage = old.physicalAddress(0);
            byte[] secret = Rig.pattern((int) old.length(), 7);
            old.write(0, secret);
        }
        try (SharedBuffer b = rig.sharing.allocate(size, domains)) {
            assertThat(b.physicalAddress(0))
                    .as("the allocator hands the same pages out again")
                    .isEqualTo(firstPage);
            byte[] zeros = new byte[(int) b.length()];
            assertThat(b.read(0, zeros.length)).isEqualTo(zeros);
            for (IommuDomain d : domains) {
                assertThat(Rig.device(d).read(b.iova(d), zeros.length))
                        .as("device of %s", d)
                        .isEqualTo(zeros);
            }
        }
    }

    @Test
    void sharesBetween4kAnd64kDomainsContiguouslyWith64kAlignment() {
        Rig rig = new Rig("lpae-4k", "lpae-64k");
        IommuDomain d4 = rig.domain(0);
        IommuDomain d64 = rig.domain(1);
        try (SharedBuffer b = rig.sharing.allocate(100 * 1024, List.of(d4, d64))) {
            assertThat(b.alignment()).isEqualTo(0x1_0000);
            assertThat(b.length()).isEqualTo(0x2_0000);
            Rig.assertAligned(b);
            Rig.assertContiguous(b, d4);
            Rig.assertContiguous(b, d64);

            byte[] data = Rig.pattern((int) b.size(), 1);
            b.write(0, data);
            assertThat(Rig.device(d4).read(b.iova(d4), data.length)).isEqualTo(data);
            assertThat(Rig.device(d64).read(b.iova(d64), data.length)).isEqualTo(data);

            byte[] reply = Rig.pattern(0x3000, 2);
            Rig.device(d64).write(b.iova(d64) + 0x1_1000, reply);
            assertThat(Rig.device(d4).read(b.iova(d4) + 0x1_1000, reply.length)).isEqualTo(reply);
            assertThat(b.read(0x1_1000, reply.length)).isEqualTo(reply);
        }
    }

    @ParameterizedTest
    @MethodSource("trios")
    void sharesAmongThreeDomainsOfDifferentGranules(String[] set) {
        Rig rig = new Rig(set);
        try (SharedBuffer b = rig.sharing.allocate(300 * 1024, rig.domains)) {
            assertThat(b.alignment())
                    .isEqualTo(rig.domains.stream()
                            .mapToLong(IommuDomain::granule)
                            .max()
                            .orElseThrow());
            Rig.assertAligned(b);
            byte[] data = Rig.pattern((int) b.length(), 3);
            b.write(0, data);
            for (IommuDomain d : rig.domains) {
                Rig.assertContiguous(b, d);
                assertThat(Rig.device(d).read(b.iova(d), data.length))
                        .as("DMA read through %s", d)
                        .isEqualTo(data);
            }
            for (IommuDomain writer : rig.domains) {
                byte[] msg = Rig.pattern(0x2000, writer.hashCode());
                Rig.device(writer).write(b.iova(writer) + 0x8000, msg);
                for (IommuDomain reader : rig.domains) {
                    assertThat(Rig.device(reader).read(b.iova(reader) + 0x8000, msg.length))
                            .isEqualTo(msg);
                }
            }
        }
    }

    @Test
    void fourMibShareOnLpae4kUsesTwoMibBlocks() {
        Rig rig = new Rig("lpae-4k", "lpae-16k");
        IommuDomain d4 = rig.domain(0);
        try (SharedBuffer b = rig.sharing.allocate(4L << 20, rig.domains)) {
            List<Translation> leaves = Rig.leaves(d4);
            assertThat(leaves).extracting(Translation::pageSize).containsOnly(2L << 20);
            assertThat(leaves).hasSize(2);
            assertThat(Rig.leaves(rig.domain(1)))
                    .extracting(Translation::pageSize)
                    .containsOnly(16L << 10);
            Rig.assertContiguous(b, d4);
            Rig.assertContiguous(b, rig.domain(1));
        }
    }

    @ParameterizedTest
    @MethodSource("pairs")
    void buildsBufferFromScatteredBlocksWhenMemoryIsFragmented(String[] set) {
        Rig rig = new Rig(64L << 20, 4096, set);
        // Fragment: take every 64 KiB block, give back every other one.
        List<Long> taken = new ArrayList<>();
        while (rig.memory.allocator().largestFreeBlock() >= 0x1_0000) {
            taken.add(rig.memory.allocator().allocate(0x1_0000, PageUse.BUFFER));
        }
        for (int i = 0; i < taken.size(); i += 2) {
            rig.memory.allocator().free(taken.get(i), 0x1_0000);
        }
        try (SharedBuffer b = rig.sharing.allocate(1L << 20, rig.domains)) {
            assertThat(b.blocks().size()).isGreaterThan(1);
            assertThat(b.blocks().merged().size())
                    .as("blocks are not physically contiguous")
                    .isGreaterThan(1);
            Rig.assertAligned(b);
            byte[] data = Rig.pattern((int) b.length(), 4);
            b.write(0, data);
            for (IommuDomain d : rig.domains) {
                Rig.assertContiguous(b, d);
                assertThat(Rig.device(d).read(b.iova(d), data.length)).isEqualTo(data);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("trios")
    void noByteOutsideLiveBuffersIsReachableInAnyDomain(String[] set) {
        Rig rig = new Rig(set);
        List<SharedBuffer> live = new ArrayList<>();
        long[] sizes = {1, 0x1000, 0x5000, 0x1_0001, 0x4_2000, 3 << 20};
        for (long size : sizes) {
            live.add(rig.sharing.allocate(size, rig.domains));
        }
        live.add(rig.sharing.allocate(0x3000, List.of(rig.domain(0))));
        live.get(1).close();
        live.remove(1);
        for (IommuDomain d : rig.domains) {
            Rig.assertNoOverExposure(d, live);
        }
        for (SharedBuffer b : live) {
            assertThat(b.length()).isGreaterThanOrEqualTo(b.size());
            for (SharedBuffer.Mapping m : b.mappings()) {
                long pastEnd = m.iova() + b.length();
                assertThat(m.domain()
                                .iommu()
                                .walk(0, pastEnd)
                                .map(Translation::pa)
                                .orElse(-1L))
                        .as("the byte after the range is not the buffer's")
                        .isNotEqualTo(b.physicalAddress(b.length() - 1) + 1);
            }
            b.close();
        }
        for (IommuDomain d : rig.domains) {
            assertThat(Rig.leaves(d))
                    .as("nothing mapped after every buffer closed")
                    .isEmpty();
        }
    }

    @ParameterizedTest
    @MethodSource("pairs")
    void closeUnmapsEverywhereAndReturnsPagesAndIovas(String[] set) {
        Rig rig = new Rig(set);
        Rig.State before = rig.state();
        SharedBuffer b = rig.sharing.allocate(0x2_0000, rig.domains);
        byte[] data = Rig.pattern(0x2_0000, 5);
        b.write(0, data);
        for (IommuDomain d : rig.domains) {
            assertThat(Rig.device(d).read(b.iova(d), data.length)).isEqualTo(data); // fills the IOTLB
        }
        List<Long> iovas = rig.domains.stream().map(b::iova).toList();
        b.close();
        for (int i = 0; i < rig.domains.size(); i++) {
            IommuDomain d = rig.domains.get(i);
            DmaDevice dev = Rig.device(d);
            long iova = iovas.get(i);
            assertThatThrownBy(() -> dev.read(iova, 16))
                    .isInstanceOf(DeviceFaultException.class)
                    .extracting(e -> ((DeviceFaultException) e).fault().reason())
                    .isEqualTo(IommuFault.Reason.TRANSLATION);
            assertThatThrownBy(() -> dev.write(iova + 0x1000, new byte[8])).isInstanceOf(DeviceFaultException.class);
            assertThat(d.iommu().faults()).isNotEmpty();
        }
        assertThat(rig.state()).isEqualTo(before);
        assertThat(rig.sharing.liveBuffers()).isZero();
    }

    @ParameterizedTest
    @MethodSource("singles")
    void closeFlushesIotlbBeforeFreeingPages(String[] set) {
        Rig rig = new Rig(set);
        IommuDomain real = rig.domain(0);
        List<String> events = new ArrayList<>();
        IommuDomain spy = new RecordingDomain(real, events, rig.memory);
        SharedBuffer b = rig.sharing.allocate(0x4000, List.of(spy));
        long iova = b.iova(spy);
        Rig.device(real).read(iova, 8);
        events.clear();
        b.close();
        assertThat(events)
                .containsExactly(
                        "unmap (buffer pages still allocated: true)", "flush (buffer pages still allocated: true)");
        assertThat(rig.memory.allocator().usage().bufferBytes()).isZero();
        assertThatThrownBy(() -> Rig.device(real).read(iova, 8)).isInstanceOf(DeviceFaultException.class);
    }

    @Test
    void closingTwiceIsHarmless() {
        Rig rig = new Rig("lpae-4k");
        SharedBuffer b = rig.sharing.allocate(0x1000, rig.domains);
        Rig.State after;
        b.close();
        after = rig.state();
        b.close();
        assertThat(rig.state()).isEqualTo(after);
        assertThat(b.isClosed()).isTrue();
        assertThat(rig.sharing.liveBuffers()).isZero();
    }

    @ParameterizedTest
    @MethodSource("finerSecond")
    void lateSharingIntoDomainWhoseGranuleDividesAlignmentWorks(String[] set) {
        Rig rig = new Rig(set);
        try (SharedBuffer b = rig.sharing.allocate(0x5000, List.of(rig.domain(0)))) {
            byte[] data = Rig.pattern((int) b.length(), 6);
            b.write(0, data);
            long iova = b.shareWith(rig.domain(1));
            assertThat(iova % b.alignment()).isZero();
            Rig.assertContiguous(b, rig.domain(1));
            assertThat(Rig.device(rig.domain(1)).read(iova, data.length)).isEqualTo(data);
            b.unshare(rig.domain(1));
            assertThat(Rig.leaves(rig.domain(1))).isEmpty();
            assertThat(rig.domain(1).iovaSpace().liveRanges()).isZero();
        }
    }

    @ParameterizedTest
    @MethodSource("coarserSecond")
    void lateSharingIntoCoarserGranuleIsRefusedNamingBothSizes(String[] set) {
        Rig rig = new Rig(set);
        try (SharedBuffer b = rig.sharing.allocate(0x5000, List.of(rig.domain(0)))) {
            Rig.State before = rig.state();
            assertThatThrownBy(() -> b.shareWith(rig.domain(1)))
                    .isInstanceOf(GranuleMismatchException.class)
                    .hasMessageContaining(Hex.size(rig.domain(1).granule()))
                    .hasMessageContaining("aligned to " + Hex.size(b.alignment()))
                    .hasMessageContaining("future domain");
            assertThat(rig.state()).isEqualTo(before);
        }
    }

    @ParameterizedTest
    @MethodSource("coarserSecond")
    void declaringFutureDomainRaisesAlignmentSoLateSharingWorks(String[] set) {
        Rig rig = new Rig(set);
        ShareOptions opts = ShareOptions.builder().futureDomains(rig.domain(1)).build();
        try (SharedBuffer b = rig.sharing.allocate(0x5000, List.of(rig.domain(0)), opts)) {
            assertThat(b.alignment()).isEqualTo(rig.domain(1).granule());
            assertThat(b.mappings()).hasSize(1);
            assertThat(Rig.leaves(rig.domain(1))).isEmpty();
            b.shareWith(rig.domain(1));
            Rig.assertAligned(b);
            Rig.assertContiguous(b, rig.domain(1));
        }
        ShareOptions granuleOnly =
                ShareOptions.builder().futureGranule(0x1_0000).build();
        try (SharedBuffer b = rig.sharing.allocate(0x1000, List.of(rig.domain(0)), granuleOnly)) {
            assertThat(b.alignment()).isEqualTo(0x1_0000);
        }
    }

    @Test
    void identicalIovaIsTheSameInEveryDomainEvenWhenTheirSpacesDiffer() {
        Rig rig = new Rig("lpae-4k", "lpae-16k");
        rig.addDomain("lpae-64k", 36);
        // Make the top of the first domain busy so the common range must be searched for.
        DomainIovas.allocator(rig.domain(0).iovaSpace()).reserve((1L << 36) - 0x10_0000, 0x10_0000);
        ShareOptions opts = ShareOptions.builder().identicalIova(true).build();
        try (SharedBuffer b = rig.sharing.allocate(0x3_0000, rig.domains, opts)) {
            long iova = b.iova(rig.domain(0));
            for (IommuDomain d : rig.domains) {
                assertThat(b.iova(d)).isEqualTo(iova);
                Rig.assertContiguous(b, d);
            }
            assertThat(iova + b.length()).isLessThanOrEqualTo((1L << 36) - 0x10_0000);
        }
    }

    @ParameterizedTest
    @MethodSource("pairs")
    void lateIdenticalShareIsRefusedWhenTheRangeIsTakenThere(String[] set) {
        Rig rig = new Rig(set);
        ShareOptions opts = ShareOptions.builder()
                .identicalIova(true)
                .futureDomains(rig.domain(1))
                .build();
        try (SharedBuffer b = rig.sharing.allocate(0x4000, List.of(rig.domain(0)), opts)) {
            long iova = b.iova(rig.domain(0));
            DomainIovas.allocator(rig.domain(1).iovaSpace()).allocateAt(iova, 0x4000);
            Rig.State before = rig.state();
            assertThatThrownBy(() -> b.shareWith(rig.domain(1)))
                    .isInstanceOf(MappingConflictException.class)
                    .hasMessageContaining("identical IOVA");
            assertThat(rig.state()).isEqualTo(before);
            DomainIovas.allocator(rig.domain(1).iovaSpace()).free(iova, 0x4000);
            assertThat(b.shareWith(rig.domain(1))).isEqualTo(iova);
        }
    }

    @Test
    void lateIdenticalShareIsRefusedWhenTheRangeLiesOutsideTheDomainsIovaSpace() {
        Rig rig = new Rig("apple-dart:t8020", "flat:flat-64k");
        // only the granule is declared, not the domain, so the range is chosen without its IOVA space
        ShareOptions opts = ShareOptions.builder()
                .identicalIova(true)
                .futureGranule(0x1_0000)
                .build();
        try (SharedBuffer b = rig.sharing.allocate(0x4000, List.of(rig.domain(0)), opts)) {
            assertThat(b.iova(rig.domain(0)))
                    .as("top of the DART's 4 GiB space")
                    .isGreaterThan(1L << 29);
            Rig.State before = rig.state();
            assertThatThrownBy(() -> b.shareWith(rig.domain(1)))
                    .isInstanceOf(MappingConflictException.class)
                    .hasMessageContaining("outside its IOVA space");
            assertThat(rig.state()).isEqualTo(before);
        }
    }

    @Test
    void identicalIovaIsChosenInsideTheDeclaredFutureDomainsIovaSpaceSoLateSharingWorks() {
        Rig rig = new Rig("apple-dart:t8020", "flat:flat-64k");
        DomainIovas.allocator(rig.domain(1).iovaSpace()).allocateAt(0x1000_0000L, 0x1000_0000L);
        ShareOptions opts = ShareOptions.builder()
                .identicalIova(true)
                .futureDomains(rig.domain(1))
                .build();
        try (SharedBuffer b = rig.sharing.allocate(0x4000, List.of(rig.domain(0)), opts)) {
            long iova = b.iova(rig.domain(0));
            assertThat(iova + b.length())
                    .as("inside flat's 512 MiB, below its taken upper half")
                    .isLessThanOrEqualTo(0x1000_0000L);
            assertThat(b.shareWith(rig.domain(1))).isEqualTo(iova);
            Rig.assertContiguous(b, rig.domain(1));
        }
    }

    @ParameterizedTest
    @MethodSource("pairs")
    void importsLentScatterListAndTheLastHolderFreesThePages(String[] set) {
        Rig rig = new Rig(set);
        PageLease lease = rig.sharing.allocatePages(0x2_0000, 0x1_0000);
        long p = lease.pages().segments().get(0).pa();
        long p1 = p + 0x1_0000;
        long p2 = p;
        long p3 = p + 0x1_C000;
        ScatterList list = ScatterList.of(
                new ScatterList.Segment(p2, 0x1_0000),
                new ScatterList.Segment(p1, 0x8000),
                new ScatterList.Segment(p3, 0x4000));
        SharedBuffer b = rig.sharing.importScatterList(lease, list, rig.domains, ShareOptions.DEFAULTS);
        lease.close();
        assertThat(b.ownsPages()).isFalse();
        assertThat(b.length()).isEqualTo(0x1_C000);
        byte[] data = Rig.pattern(0x1_C000, 7);
        b.write(0, data);
        for (IommuDomain d : rig.domains) {
            Rig.assertContiguous(b, d);
            assertThat(Rig.device(d).read(b.iova(d), data.length)).isEqualTo(data);
        }
        long bufferBytes = rig.memory.allocator().usage().bufferBytes();
        b.close();
        assertThat(rig.memory.allocator().usage().bufferBytes())
                .as("the importer was the last holder: the pages are freed")
                .isEqualTo(bufferBytes - 0x2_0000);
        assertThat(Rig.leaves(rig.domain(0))).isEmpty();
    }

    @ParameterizedTest
    @MethodSource("pairs")
    void importRefusesFirstUnalignedSegmentAndChangesNothing(String[] set) {
        Rig rig = new Rig(set);
        PageLease lease = rig.sharing.allocatePages(0x1_0000, 0x8000);
        long p1 = lease.pages().segments().get(0).pa();
        long p2 = p1 + 0x8000;
        ScatterList badLength = ScatterList.of(
                new ScatterList.Segment(p1, 0x4000),
                new ScatterList.Segment(p2, 0x1000),
                new ScatterList.Segment(p2 + 0x5000, 0x1000));
        ScatterList badAddress =
                ScatterList.of(new ScatterList.Segment(p1, 0x4000), new ScatterList.Segment(p2 + 0x1000, 0x4000));
        Rig.State before = rig.state();
        assertThatThrownBy(() -> rig.sharing.importScatterList(lease, badLength, rig.domains, ShareOptions.DEFAULTS))
                .isInstanceOf(UnsafeScatterListException.class)
                .hasMessageContaining("segment 1")
                .hasMessageContaining("length 0x1000")
                .extracting(e -> ((UnsafeScatterListException) e).segmentIndex())
                .isEqualTo(1);
        assertThatThrownBy(() -> rig.sharing.importScatterList(lease, badAddress, rig.domains, ShareOptions.DEFAULTS))
                .isInstanceOf(UnsafeScatterListException.class)
                .hasMessageContaining("segment 1")
                .hasMessageContaining("address");
        assertThat(rig.state()).isEqualTo(before);
    }

    @ParameterizedTest
    @MethodSource("pairs")
    void readOnlyBufferRefusesDeviceWrites(String[] set) {
        Rig rig = new Rig(set);
        ShareOptions ro = ShareOptions.builder().prot(Prot.READ).build();
        try (SharedBuffer b = rig.sharing.allocate(0x4000, rig.domains, ro)) {
            b.write(0, new byte[] {42});
            for (IommuDomain d : rig.domains) {
                assertThat(Rig.device(d).read(b.iova(d), 1)).containsExactly(42);
                assertThatThrownBy(() -> Rig.device(d).write(b.iova(d), new byte[] {1}))
                        .isInstanceOf(DeviceFaultException.class)
                        .extracting(e -> ((DeviceFaultException) e).fault().reason())
                        .isEqualTo(IommuFault.Reason.PERMISSION);
            }
            assertThat(b.read(0, 1)).containsExactly(42);
        }
    }

    @ParameterizedTest
    @MethodSource("pairs")
    void closedDomainIsSkippedWhenTheBufferClosesLater(String[] set) {
        Rig rig = new Rig(set);
        SharedBuffer b = rig.sharing.allocate(0x4000, rig.domains);
        rig.domain(1).close();
        b.close();
        assertThat(rig.memory.allocator().usage().bufferBytes()).isZero();
        assertThat(Rig.leaves(rig.domain(0))).isEmpty();
    }
}
