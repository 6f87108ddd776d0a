package org.dmashare.it.sharing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.util.List;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.ObjectClosedException;
import org.dmashare.PhysicalMemoryExhaustedException;
import org.dmashare.dart.DartBackend;
import org.dmashare.dart.DartDump;
import org.dmashare.dart.DartIommu;
import org.dmashare.iommu.DeviceFaultException;
import org.dmashare.iommu.DomainType;
import org.dmashare.iommu.IommuBackends;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.it.rig.Rig;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.sharing.ShareOptions;
import org.dmashare.sharing.SharedBuffer;
import org.junit.jupiter.api.Test;

/** The bad inputs a new user hit (issue 12), each with a clear typed error that changes nothing. */
class DmaSharingMisuseTest {

    @Test
    void sizeBoundIsTheLargestMultipleOfTheAlignmentThatFitsTheMemory() {
        Rig rig = new Rig(0x1_9000, 4096, "lpae-16k"); // 100 KiB; A = 16 KiB: at most 96 KiB
        IommuDomain d = rig.domain(0);
        Rig.State before = rig.state();
        assertThatThrownBy(() -> rig.sharing.allocate(0x1_8000, List.of(d)))
                .as("96 KiB fits the memory's 100 KiB: refused for lack of free pages, not by the bound")
                .isExactlyInstanceOf(PhysicalMemoryExhaustedException.class);
        assertThatThrownBy(() -> rig.sharing.allocate(0x1_8001, List.of(d)))
                .isExactlyInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("at most " + Hex.size(0x1_8000));
        assertThat(rig.state()).isEqualTo(before);
        Rig whole = new Rig(64L << 20, 4096, "lpae-4k");
        assertThatThrownBy(() -> whole.sharing.allocate(whole.memory.size(), whole.domains))
                .as("allocate(memory.size()) is not refused by the bound: the tables hold pages")
                .isExactlyInstanceOf(PhysicalMemoryExhaustedException.class);
    }

    @Test
    void exhaustionReportsTheFreeMemoryAfterTheFailedAllocationWasUndone() {
        Rig rig = new Rig(0x1_9000, 4096, "lpae-4k");
        long free = rig.memory.allocator().usage().freeBytes();
        assertThatThrownBy(() -> rig.sharing.allocate(0x1_9000, rig.domains))
                .isExactlyInstanceOf(PhysicalMemoryExhaustedException.class)
                .hasMessageContaining(Hex.size(free) + " free");
        assertThat(rig.memory.allocator().usage().freeBytes()).isEqualTo(free);
    }

    @Test
    void aClosedBufferAnswersNoAddress() {
        Rig rig = new Rig(64L << 20, 4096, "lpae-4k");
        SharedBuffer b = rig.sharing.allocate(0x4000, rig.domains);
        b.close();
        assertThatThrownBy(() -> b.physicalAddress(0)).isExactlyInstanceOf(ObjectClosedException.class);
        assertThatThrownBy(() -> b.iova(rig.domain(0))).isExactlyInstanceOf(ObjectClosedException.class);
        assertThat(b.isMappedIn(rig.domain(0))).isFalse();
        assertThat(b.mappings()).isEmpty();
    }

    @Test
    void nullsAreRefusedWithNullPointerExceptionNamingTheArgument() {
        Rig rig = new Rig(64L << 20, 4096, "lpae-4k");
        try (SharedBuffer b = rig.sharing.allocate(0x4000, rig.domains)) {
            Rig.State before = rig.state();
            assertThatThrownBy(() -> b.iova(null))
                    .isExactlyInstanceOf(NullPointerException.class)
                    .hasMessage("domain");
            assertThatThrownBy(() -> b.unshare(null))
                    .isExactlyInstanceOf(NullPointerException.class)
                    .hasMessage("domain");
            assertThatThrownBy(() -> b.shareWith(null))
                    .isExactlyInstanceOf(NullPointerException.class)
                    .hasMessage("domain");
            assertThatThrownBy(() -> b.isMappedIn(null))
                    .isExactlyInstanceOf(NullPointerException.class)
                    .hasMessage("domain");
            assertThatThrownBy(() -> b.write(0, null))
                    .isExactlyInstanceOf(NullPointerException.class)
                    .hasMessage("data");
            assertThatThrownBy(
                            () -> rig.sharing.importScatterList(null, b.blocks(), rig.domains, ShareOptions.DEFAULTS))
                    .isExactlyInstanceOf(NullPointerException.class)
                    .hasMessage("lender");
            assertThatThrownBy(() -> rig.sharing.alignment(null, ShareOptions.DEFAULTS))
                    .isExactlyInstanceOf(NullPointerException.class)
                    .hasMessage("domains");
            assertThatThrownBy(() -> rig.sharing.quarantinedRanges(null))
                    .isExactlyInstanceOf(NullPointerException.class)
                    .hasMessage("domain");
            assertThat(rig.state()).isEqualTo(before);
        }
    }

    @Test
    void closedAndIdentityFutureDomainsAreRefused() {
        Rig rig = new Rig(64L << 20, 4096, "apple-dart:t8020", "lpae-4k");
        IommuDomain closed = rig.addDomain("lpae-4k", 48);
        closed.close();
        assertThatThrownBy(() -> ShareOptions.builder().futureDomains(closed))
                .isExactlyInstanceOf(ObjectClosedException.class)
                .hasMessageContaining("future domain");
        IommuDomain identity = IommuBackends.find("generic")
                .create(
                        IommuConfig.builder("lpae-4k")
                                .name("bypass")
                                .option("bypass", "true")
                                .build(),
                        rig.memory)
                .createDomain(DomainType.IDENTITY);
        assertThatThrownBy(() -> ShareOptions.builder().futureDomains(identity))
                .isExactlyInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("paging domains");
        // a future domain closed after the options were built is refused when they are used
        IommuDomain later = rig.addDomain("lpae-4k", 48);
        ShareOptions options = ShareOptions.builder().futureDomains(later).build();
        later.close();
        Rig.State before = rig.state();
        assertThatThrownBy(() -> rig.sharing.allocate(0x4000, List.of(rig.domain(1)), options))
                .isExactlyInstanceOf(ObjectClosedException.class);
        assertThat(rig.state()).isEqualTo(before);
    }

    @Test
    void aHugeDeviceReadOfAnUnmappedIovaFaultsInsteadOfExhaustingTheHeap() {
        Rig rig = new Rig(64L << 20, 4096, "lpae-4k");
        assertThatThrownBy(() -> Rig.device(rig.domain(0)).read(0x1000_0000L, Integer.MAX_VALUE))
                .isInstanceOf(DeviceFaultException.class);
        rig.domain(0).iommu().clearFaults();
    }

    @Test
    void aDeviceReadsIntoACallersDirectBuffer() {
        Rig rig = new Rig(64L << 20, 4096, "lpae-4k");
        try (SharedBuffer b = rig.sharing.allocate(0x2_0000, rig.domains)) {
            byte[] data = Rig.pattern(0x2_0000, 3);
            b.write(0, data);
            ByteBuffer dst = ByteBuffer.allocateDirect(0x2_0010).position(0x10);
            Rig.device(rig.domain(0)).read(b.iova(rig.domain(0)), dst);
            assertThat(dst.position()).isEqualTo(0x2_0010);
            byte[] back = new byte[0x2_0000];
            dst.position(0x10).get(back);
            assertThat(back).isEqualTo(data);
            assertThatThrownBy(() -> Rig.device(rig.domain(0))
                            .read(0, ByteBuffer.allocate(1).asReadOnlyBuffer()))
                    .isExactlyInstanceOf(InvalidArgumentException.class);
        }
    }

    @Test
    void restoringALiveDartsDumpIntoTheSameMemoryIsRefused() {
        Rig rig = new Rig(64L << 20, 4096, "apple-dart:t8020");
        try (SharedBuffer b = rig.sharing.allocate(0x4000, rig.domains)) {
            DartIommu live = (DartIommu) rig.domain(0).iommu();
            DartDump dump = live.dump();
            assertThat(dump.memory()).as("the live unit has table pages").isNotEmpty();
            Rig.State before = rig.state();
            assertThatThrownBy(() -> new DartBackend().restore(dump, IommuConfig.of("t8020"), rig.memory))
                    .isExactlyInstanceOf(InvalidArgumentException.class)
                    .hasMessageContaining("live DART");
            assertThat(rig.state()).isEqualTo(before);
            // into other memory the same dump loads
            PhysicalMemory other = PhysicalMemory.create(Rig.RAM_BASE, 64L << 20, 4096);
            assertThat(new DartBackend()
                            .restore(dump, IommuConfig.of("t8020"), other)
                            .device(0)
                            .read(b.iova(rig.domain(0)), 1))
                    .hasSize(1);
        }
    }

    @Test
    void syncMapRefusesARangeThatIsNotWholeGranules() {
        Rig rig = new Rig(64L << 20, 4096, "lpae-4k", "apple-dart:t8020");
        for (IommuDomain d : rig.domains) {
            assertThatThrownBy(() -> d.syncMap(123, 5))
                    .as("on %s", d)
                    .isExactlyInstanceOf(InvalidArgumentException.class)
                    .hasMessageContaining("granule");
            d.syncMap(0x1_0000, d.granule());
        }
    }
}
