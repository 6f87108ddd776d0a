package org.dmashare.amd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.dmashare.InvalidArgumentException;
import org.dmashare.PhysicalMemoryExhaustedException;
import org.dmashare.iommu.DeviceFaultException;
import org.dmashare.iommu.DmaDevice;
import org.dmashare.iommu.IommuBackends;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.IommuFault;
import org.dmashare.iommu.Prot;
import org.dmashare.iommu.support.PagingDomain;
import org.dmashare.memory.FailureInjector;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;
import org.junit.jupiter.api.Test;

/** The amd-v1 unit: its device-table entries, the walk that follows the mode, a growing top. */
class AmdIommuTest {
    private static final long BASE = 0x8_0000_0000L;
    private final PhysicalMemory memory = PhysicalMemory.create(BASE, 1L << 28, 4096);

    private AmdIommu unit(String startMode, int inputBits) {
        return (AmdIommu) new AmdBackend()
                .create(
                        IommuConfig.builder("v1")
                                .name("amd0")
                                .inputBits(inputBits)
                                .option("start-mode", startMode)
                                .build(),
                        memory);
    }

    private static int mode(long dte) {
        return (int) ((dte >>> AmdIommu.DTE_MODE_SHIFT) & 7);
    }

    @Test
    void backendIsFoundByServiceLoaderUnderItsName() {
        assertThat(IommuBackends.available()).anyMatch(b -> b.name().equals("amd-v1"));
    }

    @Test
    void attachWritesTheDteLinuxWritesForAV1Domain() {
        AmdIommu u = unit("3", 48);
        assertThat(u.dte(0)).as("blocked: V | TV, no IR/IW").isEqualTo(0x3);
        IommuDomain d = u.createDomain();
        u.device(0).attach(d);
        long root = ((PagingDomain) d).table().rootPa();
        assertThat(u.dte(0)).isEqualTo(0x6000_0000_0000_0603L | root);
        assertThat(mode(u.dte(0))).isEqualTo(3);
    }

    @Test
    void mappingAboveTheModesReachGrowsTheTopOneModePerLevelAndReprogramsEveryAttachedDte() {
        AmdIommu u = unit("1", 48);
        IommuDomain d = u.createDomain();
        DmaDevice a = u.device(0);
        DmaDevice b = u.device(1);
        a.attach(d);
        b.attach(d);
        long buf = memory.allocator().allocate(0x1000, PageUse.BUFFER);
        memory.write(buf, new byte[] {7});
        d.map(0x1000, buf, 0x1000, Prot.READ_WRITE);
        assertThat(mode(u.dte(0))).isEqualTo(1);
        assertThatThrownBy(() -> a.read(1L << 39, 1))
                .as("beyond mode 1's 2 MiB")
                .isInstanceOf(DeviceFaultException.class);
        assertThat(u.faults().get(0).reason()).isEqualTo(IommuFault.Reason.ADDRESS_SIZE);
        long writes = u.dteWrites();
        d.map(1L << 39, buf, 0x1000, Prot.READ_WRITE);
        long root = ((PagingDomain) d).table().rootPa();
        for (int sid : new int[] {0, 1}) {
            assertThat(mode(u.dte(sid))).as("stream %d mode", sid).isEqualTo(4);
            assertThat(u.dte(sid) & AmdIommu.DTE_ROOT_MASK).isEqualTo(root);
        }
        assertThat(u.dteWrites() - writes)
                .as("one DTE write per attached device")
                .isEqualTo(2);
        assertThat(a.read(1L << 39, 1)).containsExactly(7);
        assertThat(b.read(0x1000, 1))
                .as("old IOVAs still translate through the linked old root")
                .containsExactly(7);
        assertThat(u.dte(2)).as("an unattached device is untouched").isEqualTo(0x3);
        d.unmap(1L << 39, 0x1000);
        assertThat(mode(u.dte(0))).as("the top never shrinks").isEqualTo(4);
    }

    @Test
    void anUnmapFreesEveryTableWhoseWholeRangeItCoversEvenWhereNoPageSizeMatchesIt() {
        AmdIommu u = unit("4", 48);
        IommuDomain d = u.createDomain();
        u.device(0).attach(d);
        List<Long> top = ((PagingDomain) d).table().tablePages();
        long buf = memory.allocator().allocate(0x1000, PageUse.BUFFER);
        long iova = (1L << 39) + 0x1000;
        d.map(iova, buf, 0x1000, Prot.READ_WRITE);
        assertThat(((PagingDomain) d).table().tablePages())
                .as("the top and tables for 512 GiB, 1 GiB and 2 MiB")
                .hasSize(4);
        assertThat(d.unmap(iova, 0x1000)).isEqualTo(0x1000);
        assertThat(((PagingDomain) d).table().tablePages())
                .as("emptied, not covered: kept")
                .hasSize(4);
        assertThat(d.unmap(1L << 39, 1L << 21)).isZero();
        assertThat(((PagingDomain) d).table().tablePages())
                .as("the 2 MiB table's whole range: freed")
                .hasSize(3);
        assertThat(d.unmap(1L << 39, 1L << 39)).isZero();
        assertThat(((PagingDomain) d).table().tablePages())
                .as("generic_pt frees the table under the 512 GiB entry too, though 512 GiB is no AMD page size")
                .isEqualTo(top);
    }

    @Test
    void aMapThatFailsAfterGrowingTheTopTakesItBackAndLeavesNoTablePages() {
        AmdIommu u = unit("3", 48);
        IommuDomain d = u.createDomain();
        u.device(0).attach(d);
        long before = memory.allocator().usage().tableBytes();
        long dte = u.dte(0);
        memory.failures().failNth(FailureInjector.Point.TABLE_PAGE_ALLOCATION, 3);
        assertThatThrownBy(() -> d.map(1L << 39, BASE, 0x1000, Prot.READ_WRITE))
                .isInstanceOf(PhysicalMemoryExhaustedException.class);
        memory.failures().clear();
        assertThat(memory.allocator().usage().tableBytes()).isEqualTo(before);
        assertThat(u.dte(0)).as("root and mode back as before").isEqualTo(dte);
    }

    @Test
    void writeOnlyMappingsAreExpressible() {
        AmdIommu u = unit("3", 48);
        IommuDomain d = u.createDomain();
        DmaDevice dev = u.device(0);
        dev.attach(d);
        long buf = memory.allocator().allocate(0x1000, PageUse.BUFFER);
        d.map(0x1000, buf, 0x1000, Prot.WRITE);
        dev.write(0x1000, new byte[] {1});
        assertThatThrownBy(() -> dev.read(0x1000, 1)).isInstanceOf(DeviceFaultException.class);
    }

    @Test
    void inputWidthAndStartModeAreChecked() {
        assertThatThrownBy(() -> unit("5", 48))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("start mode must be 1..4");
        assertThatThrownBy(() -> unit("3", 63))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("32..62");
        assertThat(unit("3", 62).format().maxMode()).isEqualTo(6);
        assertThat(unit("3", 57).format().maxMode()).isEqualTo(5);
    }
}
