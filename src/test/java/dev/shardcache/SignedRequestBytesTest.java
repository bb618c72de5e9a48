package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.Drainable;
import io.grpc.KnownLength;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import org.junit.jupiter.api.Test;

/**
 * A signed call hands gRPC the very bytes its token's digest covers, in a stream gRPC can size
 * without reading ({@link KnownLength}) and write in one piece ({@link Drainable}) instead of
 * copying it through a buffer of its own; read either way, the stream gives the same bytes once.
 */
class SignedRequestBytesTest {

  @Test
  void theSignedBytesDrainInOnePieceAndOnlyOnce() throws IOException {
    byte[] body = new byte[1500];
    for (int i = 0; i < body.length; i++) {
      body[i] = (byte) (i * 7);
    }
    InputStream stream = SignedClientCall.BytesMarshaller.INSTANCE.stream(body);
    assertThat(stream).isInstanceOf(KnownLength.class).isInstanceOf(Drainable.class);
    assertThat(stream.available()).isEqualTo(body.length);

    ByteArrayOutputStream sent = new ByteArrayOutputStream();
    assertThat(((Drainable) stream).drainTo(sent)).isEqualTo(body.length);
    assertThat(sent.toByteArray()).isEqualTo(body);
    assertThat(stream.available()).isZero();
    assertThat(((Drainable) stream).drainTo(sent)).isZero();
    assertThat(sent.size()).isEqualTo(body.length);
  }

  @Test
  void aPartlyReadStreamDrainsTheRest() throws IOException {
    byte[] body = {1, 2, 3, 4, 5};
    InputStream stream = SignedClientCall.BytesMarshaller.INSTANCE.stream(body);
    assertThat(stream.read()).isEqualTo(1);
    ByteArrayOutputStream rest = new ByteArrayOutputStream();
    assertThat(((Drainable) stream).drainTo(rest)).isEqualTo(4);
    assertThat(rest.toByteArray()).containsExactly(2, 3, 4, 5);
    assertThat(SignedClientCall.BytesMarshaller.INSTANCE.parse(stream)).isEmpty();
  }
}
