package org.dmashare.examples.flat;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.dmashare.testkit.DmaShareAssertions.assertThat;

import java.util.List;
import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuBackend;
import org.dmashare.iommu.IommuBackends;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.Prot;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.sharing.DmaSharing;
import org.dmashare.sharing.SharedBuffer;
import org.junit.jupiter.api.Test;

/** What the kit cannot know about the flat backend: its discovery, its settings and its entry bits. */
class FlatBackendTest {
    private final PhysicalMemory memory = PhysicalMemory.create(0x8_0000_0000L, 1L << 28, 4096);

    @Test
    void serviceLoaderFindsTheFlatBackendNextToTheGenericOne() {
        assertThat(IommuBackends.available()).extracting(IommuBackend::name).contains("flat", "generic");
        assertThat(IommuBackends.find("flat")).isInstanceOf(FlatBackend.class);
        assertThat(IommuBackends.find("flat").variants())
                .extracting(IommuBackend.Variant::name)
                .containsExactly("flat-64k");
    }

    @Test
    void defaultsAreFourStreams29BitIovasAnd40BitPhysicalAddresses() {
        Iommu unit = new FlatBackend().create(IommuConfig.of("flat-64k"), memory);
        assertThat(unit.streamCount()).isEqualTo(4);
        assertThat(unit.inputBits()).isEqualTo(29);
        assertThat(unit.outputBits()).isEqualTo(40);
        assertThat(unit.backend()).isEqualTo("flat");
    }

    @Test
    void settingsOutOfRangeAreRefusedSayingWhatIsAccepted() {
        FlatBackend flat = new FlatBackend();
        assertThatThrownBy(() ->
                        flat.create(IommuConfig.builder("flat-64k").streams(65).build(), memory))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("1..64");
        assertThatThrownBy(() -> flat.create(
                        IommuConfig.builder("flat-64k").inputBits(32).build(), memory))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("29-bit");
        assertThatThrownBy(() -> flat.create(
                        IommuConfig.builder("flat-64k").option("bypass", "true").build(), memory))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("no option 'bypass'")
                .hasMessageContaining("accepts none");
        assertThatThrownBy(() -> flat.create(IommuConfig.of("flat-4k"), memory))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("flat-64k");
    }

    @Test
    void entriesAreWrittenInTheDocumentedBitLayout() {
        FlatIommu unit = (FlatIommu) new FlatBackend().create(IommuConfig.of("flat-64k"), memory);
        IommuDomain d = unit.createDomain();
        unit.device(0).attach(d);
        long pa = memory.base() + 0x3_0000;
        d.map(0x5_0000, pa, 0x1_0000, Prot.WRITE.withNoExec());
        long table = unit.tableBase(0);
        assertThat(memory.readLong(table + 8L * 5))
                .isEqualTo(pa | FlatFormat.VALID | FlatFormat.WRITE | FlatFormat.NOEXEC);
        assertThat(d).translates(0x5_0000 + 0x123).to(pa + 0x123).withLeafSize(0x1_0000);
        d.close();
        assertThat(unit.tableBase(0)).isZero();
    }

    @Test
    void aBufferSharedBetweenFlatAndGeneric4kDomainsIsAlignedTo64KiB() {
        Iommu flat = IommuBackends.find("flat").create(IommuConfig.of("flat-64k"), memory);
        Iommu lpae = IommuBackends.find("generic").create(IommuConfig.of("lpae-4k"), memory);
        IommuDomain a = flat.createDomain();
        IommuDomain b = lpae.createDomain();
        flat.device(0).attach(a);
        lpae.device(0).attach(b);
        try (SharedBuffer buffer = new DmaSharing(memory).allocate(100 * 1024, List.of(a, b))) {
            assertThat(buffer.alignment()).isEqualTo(64 * 1024);
            assertThat(buffer).isContiguousIn(a).isContiguousIn(b).isAligned().hasNoOverExposure();
        }
    }
}
