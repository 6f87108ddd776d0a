package org.dmashare.examples.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.dmashare.examples.rig.Cli.run;

import org.dmashare.examples.rig.Cli.Run;
import org.junit.jupiter.api.Test;

/** The command line knows the arm-v7s and amd-v1 backends, found by ServiceLoader. */
class NewFormatsCommandTest {

    @Test
    void backendsListsArmV7sAndAmdV1() {
        Run r = run("backends");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out())
                .contains("arm-v7s")
                .contains("v7s")
                .contains("amd-v1")
                .contains("v1");
    }

    @Test
    void shareAcrossArmV7sAmdV1AndDartPlacesRamWhereThe32BitUnitReachesIt() {
        Run r = run(
                "share",
                "--domain",
                "arm-v7s:v7s",
                "--domain",
                "amd-v1:v1",
                "--domain",
                "apple-dart:t8020",
                "--size",
                "80K",
                "--json");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.err()).contains("note: RAM placed at [0x4000_0000, 0x1_0000_0000)");
        assertThat(r.out())
                .startsWith("{\"size\":81920,\"alignment\":16384,")
                .contains("\"backend\":\"arm-v7s\"")
                .contains("\"backend\":\"amd-v1\"")
                .contains("\"backend\":\"apple-dart\"");
    }
}
