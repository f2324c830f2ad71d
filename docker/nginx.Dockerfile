# Debian's nginx (it has the gRPC proxy module) on the same base as Kvasir.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx \
 && rm -rf /var/lib/apt/lists/*
EXPOSE 50051
CMD ["nginx", "-g", "daemon off;", "-c", "/etc/nginx/nginx.conf"]
