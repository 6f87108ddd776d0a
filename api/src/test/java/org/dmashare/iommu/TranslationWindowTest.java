package org.dmashare.iommu;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class TranslationWindowTest {

    @Test
    void fourArgumentTranslationAllowsTheWholeLeaf() {
        Translation t = new Translation(0x20_1234L, 0x8_0000_1234L, 0x1000, Prot.READ);
        assertThat(t.windowStart()).isEqualTo(0x20_1000L);
        assertThat(t.windowEnd()).isEqualTo(0x20_2000L);
        assertThat(t.hasSubpageWindow()).isFalse();
        assertThat(t.windowAllows(0x20_1000L, 0x1000)).isTrue();
        assertThat(t.windowAllows(0x20_1ffcL, 8)).isFalse();
    }

    @Test
    void windowLimitsAccessToItsBytes() {
        Translation t = new Translation(0x4000, 0x8_0000_4000L, 0x4000, Prot.READ_WRITE, 0x4100, 0x4200);
        assertThat(t.hasSubpageWindow()).isTrue();
        assertThat(t.windowAllows(0x4100, 0x100)).isTrue();
        assertThat(t.windowAllows(0x40fc, 4)).isFalse();
        assertThat(t.windowAllows(0x41fc, 8)).isFalse();
        assertThat(t.toString()).contains("window");
    }
}
